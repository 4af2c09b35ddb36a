// frame_allocator.h: physical 4 KiB frames, from the PVH memory map, in a bitmap.
// Owns which frames are free; knows nothing of mappings (page_table.h does).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/pvh/boot_info.h"
#include "sync/spin_lock.h"

namespace delos::memory {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kLargePageSize = 2ull << 20;

constexpr std::uint64_t align_down(std::uint64_t value, std::uint64_t alignment) { return value & ~(alignment - 1); }
constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) { return (value + alignment - 1) & ~(alignment - 1); }

struct PhysicalRange {
    std::uint64_t start = 0;
    std::uint64_t size = 0;
    std::uint64_t end() const { return start + size; }
    std::size_t frame_count() const { return static_cast<std::size_t>(size / kPageSize); }
};

class FrameAllocator {
public:
    // Every RAM frame of `boot` is free except the `reserved` ranges (kernel, boot data, modules)
    // and the bitmap itself, which is placed in the first free RAM large enough.
    ErrorOr<void> initialize(const pvh::BootInfo& boot, const PhysicalRange* reserved, std::size_t reserved_count);

    // `count` contiguous frames whose first frame is aligned to `alignment` bytes (a power of two).
    ErrorOr<PhysicalRange> allocate(std::size_t count, std::uint64_t alignment = kPageSize);
    void free(PhysicalRange range);
    // Marks frames free that were reserved at boot (the nano_core, boot data), page by page.
    void release_reserved(PhysicalRange range) { free(range); }

    bool is_free(std::uint64_t address) const;
    std::size_t total_frames() const { return m_total_frames; }
    std::size_t free_frames() const { return m_free_frames; }
    std::uint64_t ram_end() const { return m_frame_count * kPageSize; }

private:
    bool test(std::size_t frame) const { return m_bitmap[frame / 64] & (1ull << (frame % 64)); }
    // Sets (used) or clears a run of bits; returns how many actually changed.
    std::size_t mark_range(std::size_t first, std::size_t count, bool used);
    ErrorOr<std::size_t> find_run(std::size_t count, std::size_t alignment_frames);

    std::uint64_t* m_bitmap = nullptr;  // one bit per frame; 1 = used or not RAM
    std::size_t m_frame_count = 0;
    std::size_t m_total_frames = 0;
    std::size_t m_free_frames = 0;
    std::size_t m_next_search = 0;  // next-fit: most allocations are served from the last hole
    mutable SpinLock m_lock;
};

FrameAllocator& frame_allocator();

} // namespace delos::memory
