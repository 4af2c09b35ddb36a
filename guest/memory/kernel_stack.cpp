// kernel_stack.cpp: stacks are frames mapped RW with the lowest page unmapped.
#include "memory/kernel_stack.h"

#include "memory/page_table.h"

namespace delos::memory {

ErrorOr<KernelStack> KernelStack::allocate(std::size_t usable_pages)
{
    auto frames = TRY(frame_allocator().allocate(usable_pages + 1));
    auto mapped = kernel_page_table().set_access(frames.start + kPageSize, usable_pages * kPageSize, Access::ReadWrite);
    if (!mapped.is_error())
        mapped = kernel_page_table().set_access(frames.start, kPageSize, Access::None);
    if (mapped.is_error()) {
        frame_allocator().free(frames);
        return mapped.release_error();
    }
    return KernelStack(frames);
}

KernelStack& KernelStack::operator=(KernelStack&& other) noexcept
{
    if (this != &other) {
        release();
        m_frames = other.m_frames;
        other.m_frames = {};
    }
    return *this;
}

void KernelStack::release()
{
    if (m_frames.size == 0)
        return;
    (void)kernel_page_table().set_access(m_frames.start, m_frames.size, Access::None);
    frame_allocator().free(m_frames);
    m_frames = {};
}

} // namespace delos::memory
