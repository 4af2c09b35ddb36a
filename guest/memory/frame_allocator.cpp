// frame_allocator.cpp: bitmap search for (aligned) runs of free frames.
#include "memory/frame_allocator.h"

#include "abi/pvh.h"

namespace delos::memory {

namespace {
FrameAllocator g_frame_allocator;

bool overlaps(std::uint64_t start, std::uint64_t end, const PhysicalRange& range)
{
    return start < range.end() && range.start < end;
}
} // namespace

FrameAllocator& frame_allocator() { return g_frame_allocator; }

namespace {
unsigned count_bits(std::uint64_t word)
{
    word = word - ((word >> 1) & 0x5555555555555555ull);
    word = (word & 0x3333333333333333ull) + ((word >> 2) & 0x3333333333333333ull);
    word = (word + (word >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return static_cast<unsigned>((word * 0x0101010101010101ull) >> 56);
}
} // namespace

std::size_t FrameAllocator::mark_range(std::size_t first, std::size_t count, bool used)
{
    std::size_t changed = 0;
    std::size_t frame = first;
    std::size_t end = first + count;
    while (frame < end) {
        std::size_t bit = frame % 64;
        std::size_t span = 64 - bit < end - frame ? 64 - bit : end - frame;
        std::uint64_t mask = span == 64 ? ~0ull : ((1ull << span) - 1) << bit;
        std::uint64_t& word = m_bitmap[frame / 64];
        std::uint64_t flipping = used ? (mask & ~word) : (mask & word);
        changed += flipping == 0 ? 0 : (flipping == ~0ull ? 64 : count_bits(flipping));
        word = used ? (word | mask) : (word & ~mask);
        frame += span;
    }
    return changed;
}

ErrorOr<void> FrameAllocator::initialize(const pvh::BootInfo& boot, const PhysicalRange* reserved, std::size_t reserved_count)
{
    m_frame_count = static_cast<std::size_t>(align_up(boot.ram_end(), kPageSize) / kPageSize);
    if (m_frame_count == 0)
        return Error::make(ErrorCode::InvalidArgument, "memory map has no RAM");
    std::size_t bitmap_words = (m_frame_count + 63) / 64;
    std::uint64_t bitmap_bytes = align_up(bitmap_words * 8, kPageSize);

    // Place the bitmap in the first page-aligned RAM gap above 1 MiB that no reservation touches.
    std::uint64_t bitmap_at = 0;
    for (std::size_t r = 0; r < boot.memory_region_count && bitmap_at == 0; ++r) {
        const auto& region = boot.memory[r];
        if (region.type != abi::kMemoryRam)
            continue;
        std::uint64_t candidate = align_up(region.start < 0x100000 ? 0x100000 : region.start, kPageSize);
        std::uint64_t region_end = align_down(region.start + region.size, kPageSize);
        while (candidate + bitmap_bytes <= region_end) {
            bool clash = false;
            for (std::size_t i = 0; i < reserved_count; ++i) {
                if (overlaps(candidate, candidate + bitmap_bytes, reserved[i])) {
                    candidate = align_up(reserved[i].end(), kPageSize);
                    clash = true;
                    break;
                }
            }
            if (!clash) {
                bitmap_at = candidate;
                break;
            }
        }
    }
    if (bitmap_at == 0)
        return Error::make(ErrorCode::OutOfMemory, "no room for the frame bitmap", bitmap_bytes);
    m_bitmap = reinterpret_cast<std::uint64_t*>(bitmap_at);
    __builtin_memset(m_bitmap, 0xff, bitmap_words * 8);

    // Word-at-a-time: boot may run under instruction emulation, where every instruction counts.
    m_free_frames = 0;
    for (std::size_t r = 0; r < boot.memory_region_count; ++r) {
        const auto& region = boot.memory[r];
        if (region.type != abi::kMemoryRam)
            continue;
        std::size_t first = static_cast<std::size_t>(align_up(region.start, kPageSize) / kPageSize);
        std::size_t last = static_cast<std::size_t>(align_down(region.start + region.size, kPageSize) / kPageSize);
        if (last > m_frame_count)
            last = m_frame_count;
        if (first < last)
            m_free_frames += mark_range(first, last - first, false);
    }
    auto reserve = [&](std::uint64_t start, std::uint64_t end) {
        std::size_t first = static_cast<std::size_t>(start / kPageSize);
        std::size_t last = static_cast<std::size_t>(align_up(end, kPageSize) / kPageSize);
        if (last > m_frame_count)
            last = m_frame_count;
        if (first < last)
            m_free_frames -= mark_range(first, last - first, true);
    };
    reserve(0, kPageSize);  // the null page is never handed out
    for (std::size_t i = 0; i < reserved_count; ++i)
        reserve(reserved[i].start, reserved[i].end());
    reserve(bitmap_at, bitmap_at + bitmap_bytes);
    m_total_frames = m_free_frames;
    return {};
}

ErrorOr<std::size_t> FrameAllocator::find_run(std::size_t count, std::size_t alignment_frames)
{
    for (int pass = 0; pass < 2; ++pass) {
        std::size_t frame = pass == 0 ? m_next_search : 0;
        std::size_t limit = pass == 0 ? m_frame_count : m_next_search + count;
        frame = (frame + alignment_frames - 1) & ~(alignment_frames - 1);
        while (frame + count <= m_frame_count && frame < limit) {
            // Skip fully used words quickly.
            if (alignment_frames == 1 && frame % 64 == 0 && m_bitmap[frame / 64] == ~0ull) {
                frame += 64;
                continue;
            }
            std::size_t length = 0;
            while (length < count && !test(frame + length))
                ++length;
            if (length == count)
                return frame;
            frame = (frame + length + 1 + alignment_frames - 1) & ~(alignment_frames - 1);
        }
    }
    return Error::make(ErrorCode::OutOfMemory, "no run of free frames that long", count);
}

ErrorOr<PhysicalRange> FrameAllocator::allocate(std::size_t count, std::uint64_t alignment)
{
    if (count == 0 || alignment < kPageSize || (alignment & (alignment - 1)) != 0)
        return Error::make(ErrorCode::InvalidArgument, "bad frame count or alignment", count);
    SpinLockGuard guard(m_lock);
    if (count > m_free_frames)
        return Error::make(ErrorCode::OutOfMemory, "not enough free frames", count);
    std::size_t first = TRY(find_run(count, static_cast<std::size_t>(alignment / kPageSize)));
    m_free_frames -= mark_range(first, count, true);
    m_next_search = first + count;
    return PhysicalRange{first * kPageSize, count * kPageSize};
}

void FrameAllocator::free(PhysicalRange range)
{
    SpinLockGuard guard(m_lock);
    std::size_t first = static_cast<std::size_t>(range.start / kPageSize);
    std::size_t count = range.frame_count();
    if (first >= m_frame_count)
        return;
    if (count > m_frame_count - first)
        count = m_frame_count - first;
    m_free_frames += mark_range(first, count, false);
    if (m_free_frames > m_total_frames)
        m_total_frames = m_free_frames;  // boot-reserved frames given back grow the pool
}

bool FrameAllocator::is_free(std::uint64_t address) const
{
    std::size_t frame = static_cast<std::size_t>(address / kPageSize);
    return frame < m_frame_count && !test(frame);
}

} // namespace delos::memory
