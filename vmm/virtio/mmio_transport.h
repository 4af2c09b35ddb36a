// mmio_transport.h: the virtio-mmio version 2 register file (virtio 1.2 §4.2.2) in front of one device.
#pragma once

#include <cstdint>
#include <atomic>
#include <mutex>
#include <string>

#include "../guest_memory.h"
#include "../mmio_bus.h"
#include "interrupt_line.h"
#include "virtio_device.h"

namespace delos::vmm::virtio {

// Register offsets (§4.2.2, table "MMIO Device Register Layout"), magic, interrupt bits: the
// specification's numbers, shared with the guest's driver; then what is Delos's own.
namespace mmio {
using namespace ::delos::virtio::spec::mmio;
using ::delos::virtio::spec::kInterruptUsedBuffer;
using ::delos::virtio::spec::kInterruptConfigChange;
inline constexpr std::uint32_t kVersion2 = kModernVersion;
inline constexpr std::uint32_t kVendorDelos = 0x534f4c44;  // "DLOS"
inline constexpr std::uint64_t kWindowSize = 0x1000;
} // namespace mmio

class MmioTransport final : public MmioDevice, private VirtioSignals {
public:
    MmioTransport(VirtioDevice& device, const GuestMemory& memory, InterruptLine& interrupt);

    // Guest register accesses (vCPU thread). Each takes the transport lock.
    void mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    // A QueueNotify that arrived through an ioeventfd instead of an MMIO exit. Takes the lock.
    // `writes`: how many guest writes the eventfd coalesced (counted; handled once).
    void notify_queue(std::uint32_t index, std::uint64_t writes = 1);

    // Serialises the vCPU thread and the device's I/O thread: hold it to call into the device.
    std::mutex& lock() { return m_lock; }

    std::uint32_t status() const { return m_status; }
    bool device_needs_reset() const { return needs_reset(); }
    // Why the device is in NEEDS_RESET (empty when it is not).
    const std::string& failure_reason() const { return m_failure_reason; }
    std::uint64_t interrupts_raised() const { return m_interrupts_raised; }
    // QueueNotify writes seen (MMIO exits and ioeventfd wake-ups alike; each was a VM exit).
    std::uint64_t notifications() const { return m_notifications.load(std::memory_order_relaxed); }

private:
    std::uint32_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint32_t value);
    void write_status(std::uint32_t value);
    void notify_locked(std::uint32_t index);
    void reset_locked();
    // The selected queue, or nullptr (and NEEDS_RESET) when the guest selected one that does not exist.
    Virtqueue* selected_queue_for_write();
    bool queue_config_writable(const Virtqueue& queue) const;

    // VirtioSignals, called by the device with the lock held.
    void used_buffers(const Virtqueue& queue) override;
    void device_failed(std::string_view reason) override;
    bool needs_reset() const override { return m_status & kStatusNeedsReset; }
    void raise(std::uint32_t reason);

    std::mutex m_lock;
    VirtioDevice& m_device;
    const GuestMemory& m_memory;
    InterruptLine& m_interrupt;

    std::uint32_t m_status = 0;
    std::uint32_t m_device_features_select = 0;
    std::uint32_t m_driver_features_select = 0;
    std::uint64_t m_driver_features = 0;
    std::uint32_t m_queue_select = 0;
    std::uint32_t m_interrupt_status = 0;
    std::uint32_t m_config_generation = 0;
    bool m_activated = false;
    std::string m_failure_reason;
    std::uint64_t m_interrupts_raised = 0;
    std::atomic<std::uint64_t> m_notifications{0};
};

} // namespace delos::vmm::virtio
