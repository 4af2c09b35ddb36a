// virtio_test_driver.h: a tiny test-side virtio-mmio driver: negotiation, queue setup, posting buffers, used rings.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "guest_memory.h"
#include "virtio/console_device.h"
#include "virtio/mmio_transport.h"

namespace delos::vmm::virtio::testing {

class CountingInterrupt final : public InterruptLine {
public:
    void trigger() override { ++count; }
    std::atomic<int> count{0};
};

struct BufferSpec {
    std::uint64_t address;
    std::uint32_t length;
    bool device_writable;
};

struct UsedElement {
    std::uint32_t id;
    std::uint32_t length;
};

// Guest RAM layout used by the driver: queue q's rings at kRingBase + q * kRingStride
// (descriptors +0, avail +0x1000, used +0x2000); data buffers from kBufferBase up.
inline constexpr std::uint64_t kMemoryBytes = 1 << 20;
inline constexpr std::uint64_t kRingBase = 0x10000;
inline constexpr std::uint64_t kRingStride = 0x4000;
inline constexpr std::uint64_t kBufferBase = 0x80000;

class TestDriver {
public:
    TestDriver(GuestMemory& memory, MmioTransport& transport) : m_memory(memory), m_transport(transport) {}

    std::uint32_t read(std::uint64_t offset)
    {
        std::uint32_t value = 0;
        m_transport.mmio_read(offset, {reinterpret_cast<std::uint8_t*>(&value), 4});
        return value;
    }
    void write(std::uint64_t offset, std::uint32_t value)
    {
        m_transport.mmio_write(offset, {reinterpret_cast<const std::uint8_t*>(&value), 4});
    }

    // Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; true when the device kept FEATURES_OK.
    bool negotiate(std::uint64_t features)
    {
        write(mmio::kStatus, 0);
        write(mmio::kStatus, kStatusAcknowledge);
        write(mmio::kStatus, kStatusAcknowledge | kStatusDriver);
        write(mmio::kDriverFeaturesSel, 0);
        write(mmio::kDriverFeatures, static_cast<std::uint32_t>(features));
        write(mmio::kDriverFeaturesSel, 1);
        write(mmio::kDriverFeatures, static_cast<std::uint32_t>(features >> 32));
        write(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
        return read(mmio::kStatus) & kStatusFeaturesOk;
    }

    std::uint64_t descriptor_table(std::uint32_t queue) const { return kRingBase + queue * kRingStride; }
    std::uint64_t avail_ring(std::uint32_t queue) const { return descriptor_table(queue) + 0x1000; }
    std::uint64_t used_ring(std::uint32_t queue) const { return descriptor_table(queue) + 0x2000; }

    void setup_queue(std::uint32_t queue, std::uint16_t size)
    {
        write(mmio::kQueueSel, queue);
        write(mmio::kQueueNum, size);
        write(mmio::kQueueDescLow, static_cast<std::uint32_t>(descriptor_table(queue)));
        write(mmio::kQueueDescHigh, 0);
        write(mmio::kQueueDriverLow, static_cast<std::uint32_t>(avail_ring(queue)));
        write(mmio::kQueueDriverHigh, 0);
        write(mmio::kQueueDeviceLow, static_cast<std::uint32_t>(used_ring(queue)));
        write(mmio::kQueueDeviceHigh, 0);
        write(mmio::kQueueReady, 1);
        if (queue >= m_queues.size())
            m_queues.resize(queue + 1);
        m_queues[queue] = QueueState{size};
    }

    void driver_ok() { write(mmio::kStatus, read(mmio::kStatus) | kStatusDriverOk); }

    // The whole console bring-up: multiport negotiated, all six queues of `size`, DRIVER_OK.
    void bring_up_console(std::uint16_t size = 16)
    {
        ASSERT_TRUE(negotiate(kFeatureVersion1 | console::kFeatureMultiport));
        for (std::uint32_t queue = 0; queue < console::kQueueCount; ++queue)
            setup_queue(queue, size);
        driver_ok();
        ASSERT_EQ(read(mmio::kStatus) & kStatusNeedsReset, 0u) << m_transport.failure_reason();
    }

    // Writes a chain into the descriptor table and publishes it; returns its head.
    std::uint16_t post(std::uint32_t queue, const std::vector<BufferSpec>& buffers)
    {
        QueueState& state = m_queues.at(queue);
        std::uint16_t head = state.next_descriptor;
        for (std::size_t i = 0; i < buffers.size(); ++i) {
            std::uint16_t index = static_cast<std::uint16_t>((head + i) % state.size);
            std::uint16_t next = static_cast<std::uint16_t>((index + 1) % state.size);
            std::uint16_t flags = (buffers[i].device_writable ? Virtqueue::kDescriptorFlagWrite : 0) |
                                  (i + 1 < buffers.size() ? Virtqueue::kDescriptorFlagNext : 0);
            write_descriptor(queue, index, buffers[i].address, buffers[i].length, flags, next);
        }
        state.next_descriptor = static_cast<std::uint16_t>((head + buffers.size()) % state.size);
        publish(queue, head);
        return head;
    }

    void write_descriptor(std::uint32_t queue, std::uint16_t index, std::uint64_t address, std::uint32_t length,
                          std::uint16_t flags, std::uint16_t next)
    {
        std::uint8_t raw[16];
        std::memcpy(raw, &address, 8);
        std::memcpy(raw + 8, &length, 4);
        std::memcpy(raw + 12, &flags, 2);
        std::memcpy(raw + 14, &next, 2);
        m_memory.write(descriptor_table(queue) + 16ull * index, raw);
    }

    // Puts `head` in the avail ring and bumps avail.idx.
    void publish(std::uint32_t queue, std::uint16_t head)
    {
        QueueState& state = m_queues.at(queue);
        write_u16(avail_ring(queue) + 4 + 2ull * (state.avail_index % state.size), head);
        ++state.avail_index;
        write_u16(avail_ring(queue) + 2, state.avail_index);
    }
    void set_avail_index(std::uint32_t queue, std::uint16_t index) { write_u16(avail_ring(queue) + 2, index); }

    void notify(std::uint32_t queue) { write(mmio::kQueueNotify, queue); }
    // used.flags: VIRTQ_USED_F_NO_NOTIFY is the device's notification suppression.
    std::uint16_t used_flags(std::uint32_t queue) { return read_u16(used_ring(queue)); }

    std::optional<UsedElement> take_used(std::uint32_t queue)
    {
        QueueState& state = m_queues.at(queue);
        if (read_u16(used_ring(queue) + 2) == state.last_used)
            return std::nullopt;
        std::uint64_t element = used_ring(queue) + 4 + 8ull * (state.last_used % state.size);
        ++state.last_used;
        return UsedElement{read_u32(element), read_u32(element + 4)};
    }

    // Used entries the device has published on `queue` that take_used has not returned yet.
    std::uint16_t unconsumed_used(std::uint32_t queue)
    {
        return static_cast<std::uint16_t>(read_u16(used_ring(queue) + 2) - m_queues.at(queue).last_used);
    }

    std::vector<std::uint8_t> bytes(std::uint64_t address, std::size_t length)
    {
        auto view = m_memory.range(address, length);
        return {view.begin(), view.end()};
    }
    void put(std::uint64_t address, std::span<const std::uint8_t> data) { m_memory.write(address, data); }

    // Sends one control message on the control transmit queue from a scratch buffer.
    void send_control(std::uint32_t id, std::uint16_t event, std::uint16_t value)
    {
        std::uint8_t message[8];
        std::memcpy(message, &id, 4);
        std::memcpy(message + 4, &event, 2);
        std::memcpy(message + 6, &value, 2);
        std::uint64_t address = kBufferBase + 0x70000 + 16ull * (m_control_messages_sent++ % 64);
        put(address, message);
        post(console::kControlTransmit, {{address, 8, false}});
        notify(console::kControlTransmit);
    }

    struct ControlMessage {
        std::uint32_t id;
        std::uint16_t event;
        std::uint16_t value;
        std::string payload;
    };
    // Posts `count` control receive buffers of 256 bytes at kBufferBase + 0x60000.
    void post_control_buffers(int count)
    {
        for (int i = 0; i < count; ++i) {
            std::uint64_t address = kBufferBase + 0x60000 + 256ull * (m_control_buffers_posted++ % 64);
            std::uint16_t head = post(console::kControlReceive, {{address, 256, true}});
            m_control_buffer_address[head] = address;
        }
        notify(console::kControlReceive);
    }
    std::optional<ControlMessage> take_control()
    {
        auto used = take_used(console::kControlReceive);
        if (!used)
            return std::nullopt;
        EXPECT_GE(used->length, 8u);
        auto raw = bytes(m_control_buffer_address[used->id], used->length);
        ControlMessage message{};
        std::memcpy(&message.id, raw.data(), 4);
        std::memcpy(&message.event, raw.data() + 4, 2);
        std::memcpy(&message.value, raw.data() + 6, 2);
        message.payload.assign(raw.begin() + 8, raw.end());
        return message;
    }

private:
    struct QueueState {
        std::uint16_t size = 0;
        std::uint16_t next_descriptor = 0;
        std::uint16_t avail_index = 0;
        std::uint16_t last_used = 0;
    };
    void write_u16(std::uint64_t address, std::uint16_t value)
    {
        m_memory.write(address, {reinterpret_cast<const std::uint8_t*>(&value), 2});
    }
    std::uint16_t read_u16(std::uint64_t address)
    {
        std::uint16_t value;
        std::memcpy(&value, m_memory.range(address, 2).data(), 2);
        return value;
    }
    std::uint32_t read_u32(std::uint64_t address)
    {
        std::uint32_t value;
        std::memcpy(&value, m_memory.range(address, 4).data(), 4);
        return value;
    }

    GuestMemory& m_memory;
    MmioTransport& m_transport;
    std::vector<QueueState> m_queues;
    std::uint64_t m_control_messages_sent = 0;
    std::uint64_t m_control_buffers_posted = 0;
    std::uint64_t m_control_buffer_address[256] = {};
};

// A console device behind its transport in 1 MiB of guest RAM, with a counted interrupt.
struct ConsoleBench {
    GuestMemory memory{kMemoryBytes};
    CountingInterrupt interrupt;
    ConsoleDevice console{"org.delos.control.0"};
    MmioTransport transport{console, memory, interrupt};
    TestDriver driver{memory, transport};
};

} // namespace delos::vmm::virtio::testing
