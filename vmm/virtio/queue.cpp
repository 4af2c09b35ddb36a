// queue.cpp: split virtqueue ring access; every guest index, address and length is checked.
#include "queue.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace delos::vmm::virtio {

namespace {

// Ring layouts (virtio 1.2 §2.7): sizes in bytes for a queue of `size` entries.
constexpr std::uint64_t kDescriptorBytes = 16;
std::uint64_t descriptor_table_bytes(std::uint16_t size) { return kDescriptorBytes * size; }
std::uint64_t avail_ring_bytes(std::uint16_t size) { return 6 + 2ull * size; }  // flags, idx, ring[], used_event
std::uint64_t used_ring_bytes(std::uint16_t size) { return 6 + 8ull * size; }   // flags, idx, ring[], avail_event

struct RawDescriptor {
    std::uint64_t address;
    std::uint32_t length;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(RawDescriptor) == kDescriptorBytes);

// The guest changes its rings while we read them: one load per field, never two.
std::uint16_t load_u16_acquire(const GuestMemory& memory, std::uint64_t address)
{
    auto bytes = memory.range(address, 2);
    return __atomic_load_n(reinterpret_cast<const std::uint16_t*>(bytes.data()), __ATOMIC_ACQUIRE);
}

} // namespace

std::string_view describe(QueueError error)
{
    switch (error) {
    case QueueError::SizeNotPowerOfTwo: return "queue size is not a power of two";
    case QueueError::SizeAboveMaximum: return "queue size is zero or above QueueNumMax";
    case QueueError::RingOutsideRam: return "a ring of the queue is not inside guest RAM";
    case QueueError::RingMisaligned: return "a ring of the queue is misaligned";
    case QueueError::AvailIndexJump: return "avail index moved more than the queue size";
    case QueueError::DescriptorIndexOutOfRange: return "descriptor index is not below the queue size";
    case QueueError::DescriptorOutsideRam: return "descriptor buffer is not inside guest RAM";
    case QueueError::DescriptorLoop: return "descriptor chain is longer than the queue (a loop)";
    case QueueError::ChainLengthOverflow: return "descriptor chain lengths add up past 4 GiB";
    case QueueError::ReadableAfterWritable: return "device-readable descriptor after a device-writable one";
    case QueueError::IndirectNotNegotiated: return "indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not offered";
    }
    return "unknown queue error";
}

std::optional<QueueError> Virtqueue::make_ready(const GuestMemory& memory)
{
    if (m_size == 0 || m_size > m_max_size)
        return QueueError::SizeAboveMaximum;
    if ((m_size & (m_size - 1)) != 0)
        return QueueError::SizeNotPowerOfTwo;
    if (m_descriptor_table % 16 != 0 || m_avail_ring % 2 != 0 || m_used_ring % 4 != 0)
        return QueueError::RingMisaligned;
    if (!memory.contains(m_descriptor_table, descriptor_table_bytes(m_size)) ||
        !memory.contains(m_avail_ring, avail_ring_bytes(m_size)) || !memory.contains(m_used_ring, used_ring_bytes(m_size)))
        return QueueError::RingOutsideRam;
    m_next_avail = 0;
    m_next_used = 0;
    m_ready = true;
    return std::nullopt;
}

void Virtqueue::reset()
{
    m_size = m_max_size;
    m_ready = false;
    m_descriptor_table = m_avail_ring = m_used_ring = 0;
    m_next_avail = m_next_used = 0;
}

PopResult Virtqueue::pop(const GuestMemory& memory)
{
    if (!m_ready)
        return {};
    std::uint16_t avail_index = load_u16_acquire(memory, m_avail_ring + 2);
    std::uint16_t pending = static_cast<std::uint16_t>(avail_index - m_next_avail);
    if (pending == 0)
        return {};
    if (pending > m_size)
        return {std::nullopt, QueueError::AvailIndexJump};

    std::uint16_t head = load_u16_acquire(memory, m_avail_ring + 4 + 2ull * (m_next_avail % m_size));
    if (head >= m_size)
        return {std::nullopt, QueueError::DescriptorIndexOutOfRange};

    DescriptorChain chain{head, {}};
    std::uint16_t index = head;
    for (std::uint32_t visited = 0;; ++visited) {
        // A chain without loops visits each of the `size` descriptors at most once.
        if (visited >= m_size)
            return {std::nullopt, QueueError::DescriptorLoop};
        RawDescriptor raw;
        std::memcpy(&raw, memory.range(m_descriptor_table + kDescriptorBytes * index, kDescriptorBytes).data(), sizeof raw);
        if (raw.flags & kDescriptorFlagIndirect)
            return {std::nullopt, QueueError::IndirectNotNegotiated};
        if (!memory.contains(raw.address, raw.length))
            return {std::nullopt, QueueError::DescriptorOutsideRam};
        bool writable = raw.flags & kDescriptorFlagWrite;
        if (!writable && chain.descriptors.size() > 0 && chain.descriptors.back().device_writable)
            return {std::nullopt, QueueError::ReadableAfterWritable};
        (writable ? chain.writable_bytes : chain.readable_bytes) += raw.length;
        if (chain.readable_bytes + chain.writable_bytes > 0xffffffffull)
            return {std::nullopt, QueueError::ChainLengthOverflow};
        chain.descriptors.push_back({raw.address, raw.length, writable});
        if (!(raw.flags & kDescriptorFlagNext))
            break;
        if (raw.next >= m_size)
            return {std::nullopt, QueueError::DescriptorIndexOutOfRange};
        index = raw.next;
    }
    ++m_next_avail;
    return {std::move(chain), std::nullopt};
}

bool Virtqueue::add_used(const GuestMemory& memory, std::uint16_t head, std::uint32_t written)
{
    auto element = memory.range(m_used_ring + 4 + 8ull * (m_next_used % m_size), 8);
    auto index = memory.range(m_used_ring + 2, 2);
    if (element.empty() || index.empty())
        return false;
    std::uint32_t id = head;
    std::memcpy(element.data(), &id, 4);
    std::memcpy(element.data() + 4, &written, 4);
    ++m_next_used;
    // The element must be visible before the index that publishes it.
    __atomic_store_n(reinterpret_cast<std::uint16_t*>(index.data()), m_next_used, __ATOMIC_RELEASE);
    return true;
}

bool Virtqueue::driver_wants_interrupt(const GuestMemory& memory) const
{
    if (!m_ready)
        return false;
    // The used index we just stored must be visible before we read the driver's flag: a driver that
    // clears the flag and then re-reads the used index (to sleep only if nothing came back) would
    // otherwise miss both our entry and our interrupt (x86 lets a load pass an earlier store).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return (load_u16_acquire(memory, m_avail_ring) & kAvailFlagNoInterrupt) == 0;
}

bool Virtqueue::set_notifications_wanted(const GuestMemory& memory, bool wanted)
{
    if (!m_ready)
        return false;
    auto flags = memory.range(m_used_ring, 2);
    if (flags.empty())
        return false;
    __atomic_store_n(reinterpret_cast<std::uint16_t*>(flags.data()), wanted ? 0 : kUsedFlagNoNotify, __ATOMIC_RELEASE);
    // The flag must be visible before the caller re-reads avail.idx (a store-load order x86 keeps
    // only with a full fence); the driver fences between its avail.idx store and its flag read.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return true;
}

bool Virtqueue::has_avail(const GuestMemory& memory) const
{
    if (!m_ready)
        return false;
    return load_u16_acquire(memory, m_avail_ring + 2) != m_next_avail;
}

std::size_t Virtqueue::read_chain(const GuestMemory& memory, const DescriptorChain& chain, std::uint64_t offset,
                                  std::span<std::uint8_t> out)
{
    std::size_t copied = 0;
    for (const Descriptor& descriptor : chain.descriptors) {
        if (descriptor.device_writable || copied == out.size())
            break;
        if (offset >= descriptor.length) {
            offset -= descriptor.length;
            continue;
        }
        std::uint64_t count = std::min<std::uint64_t>(descriptor.length - offset, out.size() - copied);
        auto source = memory.range(descriptor.address + offset, count);
        if (source.empty())
            break;
        std::memcpy(out.data() + copied, source.data(), count);
        copied += count;
        offset = 0;
    }
    return copied;
}

std::size_t Virtqueue::write_chain(const GuestMemory& memory, const DescriptorChain& chain,
                                   std::span<const std::uint8_t> bytes)
{
    std::size_t copied = 0;
    for (const Descriptor& descriptor : chain.descriptors) {
        if (!descriptor.device_writable)
            continue;
        if (copied == bytes.size())
            break;
        std::uint64_t count = std::min<std::uint64_t>(descriptor.length, bytes.size() - copied);
        auto target = memory.range(descriptor.address, count);
        if (target.empty())
            break;
        std::memcpy(target.data(), bytes.data() + copied, count);
        copied += count;
    }
    return copied;
}

} // namespace delos::vmm::virtio
