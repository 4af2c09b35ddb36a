// virtqueue.h: the driver side of a split virtqueue (virtio 1.2 §2.7), independent of the transport.
//
// The descriptor table and the avail and used rings live in frames this object allocates (the
// linear map makes their virtual address the physical one the device is given). What the driver
// needs to remember about each chain (free list, chain lengths, buffer sizes) is kept here, in
// driver-private memory: the device can scribble over the shared rings, never over this state.
// Everything the device writes (used.idx, used ids and lengths) is checked before it is believed;
// a device caught lying breaks the queue, and every later call reports it as an error value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "memory/frame_allocator.h"

namespace delos::virtio {

// One buffer of a chain: [address, address + length) in guest-physical (= linear) memory.
struct BufferSegment {
    std::uint64_t address;
    std::uint32_t length;
    bool device_writable;  // true: the device fills it (receive); false: the device reads it (transmit)
};

// A chain the device has finished with: its head id and the bytes it wrote into the chain's
// writable part (already checked against what the chain offered).
struct UsedBuffer {
    std::uint16_t head;
    std::uint32_t written;
};

class Virtqueue {
public:
    // The largest queue this driver sets up; devices offering more are given this many.
    static constexpr std::uint16_t kMaxSize = 256;

    Virtqueue() = default;
    ~Virtqueue();
    Virtqueue(const Virtqueue&) = delete;
    Virtqueue& operator=(const Virtqueue&) = delete;

    // Allocates and zeroes the rings for queue number `index` with `size` entries (a power of two,
    // 1..kMaxSize). Called once, before the transport tells the device where the rings are.
    ErrorOr<void> allocate(std::uint16_t index, std::uint16_t size);
    bool allocated() const { return m_size != 0; }

    std::uint16_t index() const { return m_index; }
    std::uint16_t size() const { return m_size; }
    std::uint64_t descriptor_table_address() const { return m_memory.start; }
    std::uint64_t avail_ring_address() const { return m_memory.start + m_avail_offset; }
    std::uint64_t used_ring_address() const { return m_memory.start + m_used_offset; }

    std::uint16_t free_descriptors() const { return m_free_count; }
    std::uint16_t outstanding_chains() const { return m_outstanding_chains; }

    // Writes a chain (readable segments first, then writable ones) into free descriptors and
    // queues it for the next publish(); returns its head id. Fails when descriptors are short.
    ErrorOr<std::uint16_t> add_chain(const BufferSegment* segments, std::size_t count);
    ErrorOr<std::uint16_t> add_buffer(const BufferSegment& segment) { return add_chain(&segment, 1); }

    // Makes every chain added since the last publish visible with one avail.idx store. Returns
    // whether the device must be notified (once per batch): something was published and the
    // device has not set VIRTQ_USED_F_NO_NOTIFY.
    bool publish();

    // Takes the next used chain into `out`: true when there was one, false when the used ring
    // holds nothing new, an error when the device broke the queue (bad index, a head that is not
    // outstanding, a length beyond the buffer, used.idx running ahead).
    ErrorOr<bool> take_used(UsedBuffer& out);

    // How many used entries the device has published that take_used has not returned yet (not
    // validated: take_used checks each one). For ordering against other queues.
    std::uint16_t unconsumed_used() const;
    // Used entries take_used has returned so far (wraps): the position of the next one.
    std::uint16_t used_taken() const { return m_last_used_index; }

    // VIRTQ_AVAIL_F_NO_INTERRUPT: a hint that the driver polls this queue and wants no interrupt.
    void set_interrupts_wanted(bool wanted);

    // Set once the device has been caught breaking the queue; the reason stays available.
    bool broken() const { return m_broken; }
    const Error& breakage() const { return m_breakage; }

private:
    Error fail(Error error);

    memory::PhysicalRange m_memory{};
    std::uint64_t m_avail_offset = 0;
    std::uint64_t m_used_offset = 0;
    std::uint16_t m_index = 0;
    std::uint16_t m_size = 0;

    // Driver-private bookkeeping, never shared with the device.
    std::uint16_t m_free_head = 0;
    std::uint16_t m_free_count = 0;
    std::uint16_t m_next_free[kMaxSize] = {};
    std::uint16_t m_chain_length[kMaxSize] = {};    // 0: this id is not the head of an outstanding chain
    std::uint32_t m_chain_writable[kMaxSize] = {};  // bytes the device may write into the chain
    std::uint16_t m_outstanding_chains = 0;
    std::uint16_t m_avail_index = 0;      // our copy of avail.idx, including unpublished chains
    std::uint16_t m_published_index = 0;  // avail.idx as the device last saw it
    std::uint16_t m_last_used_index = 0;  // used entries consumed so far
    bool m_broken = false;
    Error m_breakage{};
};

} // namespace delos::virtio
