// queue.h: a split virtqueue (virtio 1.2 §2.7) read from hostile guest memory; it knows no device.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "abi/virtio_spec.h"
#include "../guest_memory.h"

namespace delos::vmm::virtio {

// Why a queue refused what the guest put in it. Any of these puts the device in NEEDS_RESET.
enum class QueueError {
    SizeNotPowerOfTwo,
    SizeAboveMaximum,
    RingOutsideRam,
    RingMisaligned,
    AvailIndexJump,          // avail.idx ran more than the queue size ahead of the device
    DescriptorIndexOutOfRange,
    DescriptorOutsideRam,
    DescriptorLoop,          // a chain longer than the queue: it must revisit a descriptor
    ChainLengthOverflow,     // the chain's lengths sum past 4 GiB
    ReadableAfterWritable,   // §2.7.4.2: device-writable descriptors come last
    IndirectNotNegotiated,   // VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC
};

std::string_view describe(QueueError error);

// One checked descriptor: [address, address + length) is inside guest RAM.
struct Descriptor {
    std::uint64_t address;
    std::uint32_t length;
    bool device_writable;
};

// A walked chain: its head index (for the used ring) and its descriptors, in order.
struct DescriptorChain {
    std::uint16_t head;
    std::vector<Descriptor> descriptors;
    std::uint64_t readable_bytes = 0;
    std::uint64_t writable_bytes = 0;
};

// Either a chain, nothing (the ring is empty), or the reason the guest's ring is hostile.
struct PopResult {
    std::optional<DescriptorChain> chain;
    std::optional<QueueError> error;
};

class Virtqueue {
public:
    static constexpr std::uint16_t kDescriptorFlagNext = ::delos::virtio::spec::kDescriptorFlagNext;
    static constexpr std::uint16_t kDescriptorFlagWrite = ::delos::virtio::spec::kDescriptorFlagWrite;
    static constexpr std::uint16_t kDescriptorFlagIndirect = ::delos::virtio::spec::kDescriptorFlagIndirect;
    static constexpr std::uint16_t kAvailFlagNoInterrupt = ::delos::virtio::spec::kAvailFlagNoInterrupt;
    static constexpr std::uint16_t kUsedFlagNoNotify = ::delos::virtio::spec::kUsedFlagNoNotify;

    explicit Virtqueue(std::uint16_t max_size) : m_max_size(max_size), m_size(max_size) {}

    // Driver-visible configuration, written through the transport while the queue is not ready.
    std::uint16_t max_size() const { return m_max_size; }
    std::uint16_t size() const { return m_size; }
    void set_size(std::uint16_t size) { m_size = size; }
    void set_descriptor_table(std::uint64_t address) { m_descriptor_table = address; }
    void set_avail_ring(std::uint64_t address) { m_avail_ring = address; }
    void set_used_ring(std::uint64_t address) { m_used_ring = address; }
    std::uint64_t descriptor_table() const { return m_descriptor_table; }
    std::uint64_t avail_ring() const { return m_avail_ring; }
    std::uint64_t used_ring() const { return m_used_ring; }
    bool ready() const { return m_ready; }

    // Checks size and ring placement against `memory`; on success the queue is ready to use.
    std::optional<QueueError> make_ready(const GuestMemory& memory);
    void set_not_ready() { m_ready = false; }
    // Back to the state after device reset (§4.2.2.1: all queue registers zero, size = max).
    void reset();

    // Takes the next available chain, checking every index, address and length.
    PopResult pop(const GuestMemory& memory);
    // Gives the last popped chain back (it will be popped again): backpressure.
    void undo_pop() { --m_next_avail; }
    // Returns a chain to the driver with `written` bytes written into its writable part.
    // False when the used ring is no longer in RAM (the transport checked it at ready time).
    bool add_used(const GuestMemory& memory, std::uint16_t head, std::uint32_t written);
    // used.idx as the device last published it: the number of used entries so far (wraps).
    std::uint16_t next_used() const { return m_next_used; }
    // False when the driver set VIRTQ_AVAIL_F_NO_INTERRUPT (a hint: it polls).
    bool driver_wants_interrupt(const GuestMemory& memory) const;
    // VIRTQ_USED_F_NO_NOTIFY (§2.7.10), our side of notification suppression: `false` tells the
    // driver not to notify about new buffers (the device will look at the avail ring by itself).
    // Turning notifications back on ends with a full fence: the caller then re-checks has_avail(),
    // because a chain the driver published before it could see the flag came without a notification.
    // False when the used ring is no longer in RAM.
    bool set_notifications_wanted(const GuestMemory& memory, bool wanted);
    // Whether avail.idx shows chains not popped yet (one read, not validated: pop() checks).
    bool has_avail(const GuestMemory& memory) const;

    // Copies of a chain's bytes: `read_chain` gathers readable bytes from `offset` on;
    // `write_chain` scatters into writable descriptors. Both return the bytes copied.
    static std::size_t read_chain(const GuestMemory& memory, const DescriptorChain& chain, std::uint64_t offset,
                                  std::span<std::uint8_t> out);
    static std::size_t write_chain(const GuestMemory& memory, const DescriptorChain& chain,
                                   std::span<const std::uint8_t> bytes);

private:
    std::uint16_t m_max_size;
    std::uint16_t m_size;
    bool m_ready = false;
    std::uint64_t m_descriptor_table = 0;
    std::uint64_t m_avail_ring = 0;
    std::uint64_t m_used_ring = 0;
    std::uint16_t m_next_avail = 0;
    std::uint16_t m_next_used = 0;
};

} // namespace delos::vmm::virtio
