// virtqueue.cpp: split-ring layout, descriptor free list, publishing and checked used-ring reads.
#include "drivers/virtio/virtqueue.h"

#include "abi/virtio_spec.h"
#include "memory/mapped_pages.h"

namespace delos::virtio {

namespace {

// Shared ring formats (virtio 1.2 §2.7.5, §2.7.6, §2.7.8); all fields little-endian, as x86 is.
struct [[gnu::packed]] RingDescriptor {
    std::uint64_t address;
    std::uint32_t length;
    std::uint16_t flags;
    std::uint16_t next;
};
constexpr std::uint16_t kDescriptorNext = spec::kDescriptorFlagNext;
constexpr std::uint16_t kDescriptorWrite = spec::kDescriptorFlagWrite;
constexpr std::uint16_t kAvailNoInterrupt = spec::kAvailFlagNoInterrupt;
constexpr std::uint16_t kUsedNoNotify = spec::kUsedFlagNoNotify;

// avail: le16 flags; le16 idx; le16 ring[size]; (le16 used_event, unused without EVENT_IDX)
constexpr std::uint64_t kAvailFlags = 0, kAvailIndex = 2, kAvailRing = 4;
// used: le16 flags; le16 idx; struct { le32 id; le32 len; } ring[size]; (le16 avail_event)
constexpr std::uint64_t kUsedFlags = 0, kUsedIndex = 2, kUsedRing = 4, kUsedElementBytes = 8;

template <typename T>
T load_acquire(std::uint64_t address)
{
    return __atomic_load_n(reinterpret_cast<T*>(address), __ATOMIC_ACQUIRE);
}

template <typename T>
void store_release(std::uint64_t address, T value)
{
    __atomic_store_n(reinterpret_cast<T*>(address), value, __ATOMIC_RELEASE);
}

} // namespace

Virtqueue::~Virtqueue()
{
    if (m_memory.size)
        memory::free_device_frames(m_memory);
}

ErrorOr<void> Virtqueue::allocate(std::uint16_t index, std::uint16_t size)
{
    if (m_size != 0)
        return Error::make(ErrorCode::AlreadyExists, "virtqueue: already allocated", index);
    if (size == 0 || size > kMaxSize || (size & (size - 1)) != 0)
        return Error::make(ErrorCode::InvalidArgument, "virtqueue: size must be a power of two up to 256", size);
    // Alignment (§2.7): descriptors 16, avail 2, used 4. One contiguous, page-aligned block.
    std::uint64_t descriptor_bytes = 16ull * size;
    std::uint64_t avail_bytes = kAvailRing + 2ull * size + 2;
    m_avail_offset = descriptor_bytes;
    m_used_offset = memory::align_up(m_avail_offset + avail_bytes, 4);
    std::uint64_t used_bytes = kUsedRing + kUsedElementBytes * size + 2;
    std::uint64_t total = memory::align_up(m_used_offset + used_bytes, memory::kPageSize);
    m_memory = TRY(memory::allocate_device_frames(static_cast<std::size_t>(total / memory::kPageSize)));
    __builtin_memset(reinterpret_cast<void*>(m_memory.start), 0, static_cast<std::size_t>(m_memory.size));

    m_index = index;
    m_size = size;
    for (std::uint16_t i = 0; i < size; ++i)
        m_next_free[i] = static_cast<std::uint16_t>(i + 1);
    m_free_head = 0;
    m_free_count = size;
    return {};
}

ErrorOr<std::uint16_t> Virtqueue::add_chain(const BufferSegment* segments, std::size_t count)
{
    if (m_broken)
        return m_breakage;
    if (count == 0 || count > m_free_count)
        return Error::make(ErrorCode::Busy, "virtqueue: not enough free descriptors", count);
    std::uint64_t writable = 0;
    bool seen_writable = false;
    for (std::size_t i = 0; i < count; ++i) {
        if (segments[i].device_writable)
            seen_writable = true;
        else if (seen_writable)
            return Error::make(ErrorCode::InvalidArgument, "virtqueue: a readable segment follows a writable one", i);
        if (segments[i].device_writable)
            writable += segments[i].length;
    }
    if (writable > 0xffffffffull)
        return Error::make(ErrorCode::Overflow, "virtqueue: chain offers more than 4 GiB", writable);

    auto* table = reinterpret_cast<volatile RingDescriptor*>(m_memory.start);
    std::uint16_t head = m_free_head;
    std::uint16_t id = head;
    for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t next = m_next_free[id];
        bool last = i + 1 == count;
        table[id].address = segments[i].address;
        table[id].length = segments[i].length;
        table[id].flags = static_cast<std::uint16_t>((segments[i].device_writable ? kDescriptorWrite : 0) |
                                                     (last ? 0 : kDescriptorNext));
        table[id].next = last ? 0 : next;
        if (!last)
            id = next;
        else
            m_free_head = next;
    }
    m_free_count = static_cast<std::uint16_t>(m_free_count - count);
    m_chain_length[head] = static_cast<std::uint16_t>(count);
    m_chain_writable[head] = static_cast<std::uint32_t>(writable);
    ++m_outstanding_chains;

    auto* ring = reinterpret_cast<volatile std::uint16_t*>(avail_ring_address() + kAvailRing);
    ring[m_avail_index % m_size] = head;
    ++m_avail_index;
    return head;
}

bool Virtqueue::publish()
{
    if (m_broken || m_avail_index == m_published_index)
        return false;
    // Descriptors and ring entries become visible before the index that announces them.
    store_release<std::uint16_t>(avail_ring_address() + kAvailIndex, m_avail_index);
    m_published_index = m_avail_index;
    // The store must be visible before we read the device's flag (store-load: a full fence). A
    // device that turns notifications back on fences, then re-reads avail.idx: either it sees our
    // index or we see its flag cleared and notify.
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    // VIRTQ_USED_F_NO_NOTIFY (§2.7.10): the device will look by itself; a notification would
    // only cost an exit. A device that lies here only stalls its own queue.
    return (load_acquire<std::uint16_t>(used_ring_address() + kUsedFlags) & kUsedNoNotify) == 0;
}

ErrorOr<bool> Virtqueue::take_used(UsedBuffer& out)
{
    if (m_broken)
        return m_breakage;
    if (m_size == 0)
        return false;
    std::uint16_t device_index = load_acquire<std::uint16_t>(used_ring_address() + kUsedIndex);
    std::uint16_t pending = static_cast<std::uint16_t>(device_index - m_last_used_index);
    if (pending == 0)
        return false;
    if (pending > m_outstanding_chains)
        return fail(Error::make(ErrorCode::Malformed, "virtqueue: the device's used.idx ran ahead of the buffers it holds",
                                device_index));

    std::uint64_t element = used_ring_address() + kUsedRing + kUsedElementBytes * (m_last_used_index % m_size);
    std::uint32_t id = *reinterpret_cast<volatile std::uint32_t*>(element);
    std::uint32_t written = *reinterpret_cast<volatile std::uint32_t*>(element + 4);
    if (id >= m_size)
        return fail(Error::make(ErrorCode::OutOfRange, "virtqueue: the device returned a descriptor id past the queue", id));
    if (m_chain_length[id] == 0)
        return fail(Error::make(ErrorCode::Malformed, "virtqueue: the device returned a chain it does not hold", id));
    if (written > m_chain_writable[id])
        return fail(Error::make(ErrorCode::Overflow, "virtqueue: the device claims to have written past the buffer",
                                written));

    // Give the chain's descriptors back. While a chain is outstanding, m_next_free still links its
    // ids in order (add_chain took them off the free list that way): our record, not the shared table.
    std::uint16_t last = static_cast<std::uint16_t>(id);
    for (std::uint16_t i = 1; i < m_chain_length[id]; ++i)
        last = m_next_free[last];
    m_next_free[last] = m_free_head;
    m_free_head = static_cast<std::uint16_t>(id);
    m_free_count = static_cast<std::uint16_t>(m_free_count + m_chain_length[id]);
    m_chain_length[id] = 0;
    m_chain_writable[id] = 0;
    --m_outstanding_chains;
    ++m_last_used_index;
    out = {static_cast<std::uint16_t>(id), written};
    return true;
}

std::uint16_t Virtqueue::unconsumed_used() const
{
    if (m_size == 0)
        return 0;
    return static_cast<std::uint16_t>(load_acquire<std::uint16_t>(used_ring_address() + kUsedIndex) - m_last_used_index);
}

void Virtqueue::set_interrupts_wanted(bool wanted)
{
    if (m_size == 0)
        return;
    store_release<std::uint16_t>(avail_ring_address() + kAvailFlags, wanted ? 0 : kAvailNoInterrupt);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

Error Virtqueue::fail(Error error)
{
    m_broken = true;
    m_breakage = error;
    return error;
}

} // namespace delos::virtio
