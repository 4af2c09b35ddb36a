// kernel_stack.h: an owned stack of whole pages with an unmapped guard page below it, so an
// overflow faults instead of silently corrupting the memory underneath.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "memory/frame_allocator.h"

namespace delos::memory {

class KernelStack {
public:
    static ErrorOr<KernelStack> allocate(std::size_t usable_pages);

    KernelStack() = default;
    KernelStack(KernelStack&& other) noexcept : m_frames(other.m_frames) { other.m_frames = {}; }
    KernelStack& operator=(KernelStack&& other) noexcept;
    KernelStack(const KernelStack&) = delete;
    KernelStack& operator=(const KernelStack&) = delete;
    ~KernelStack() { release(); }

    // 16-byte aligned, one past the highest usable byte.
    std::uint64_t top() const { return m_frames.end(); }
    std::uint64_t guard_page() const { return m_frames.start; }
    std::uint64_t bottom() const { return m_frames.start + kPageSize; }
    bool valid() const { return m_frames.size != 0; }

private:
    explicit KernelStack(PhysicalRange frames) : m_frames(frames) {}
    void release();

    PhysicalRange m_frames;  // guard page + usable pages
};

} // namespace delos::memory
