// kernel_section_memory.cpp: regions are frames mapped RW-, then R-X or R--; released regions are
// unmapped before their frames are freed, so a stale pointer into an unloaded cell faults.
#include "linker/kernel/kernel_section_memory.h"

#include "memory/frame_allocator.h"
#include "memory/page_table.h"

namespace delos::loader {

namespace {
memory::Access access_for(link::Permissions permissions)
{
    switch (permissions) {
    case link::Permissions::ReadWrite: return memory::Access::ReadWrite;
    case link::Permissions::ReadOnly: return memory::Access::Read;
    case link::Permissions::ReadExecute: return memory::Access::ReadExecute;
    }
    return memory::Access::None;
}
} // namespace

ErrorOr<link::Region> KernelSectionMemory::allocate(std::uint64_t size, std::uint64_t alignment)
{
    if (size == 0 || size % memory::kPageSize != 0)
        return Error::make(ErrorCode::InvalidArgument, "cell region size is not a positive multiple of 4 KiB", size);
    auto frames = TRY(memory::frame_allocator().allocate(static_cast<std::size_t>(size / memory::kPageSize), alignment));
    auto mapped = memory::kernel_page_table().set_access(frames.start, frames.size, memory::Access::ReadWrite);
    if (mapped.is_error()) {
        memory::frame_allocator().free(frames);
        return mapped.release_error();
    }
    m_bytes_in_use += frames.size;
    return link::Region{frames.start, frames.size};
}

ErrorOr<void> KernelSectionMemory::protect(link::Region region, link::Permissions permissions)
{
    return memory::kernel_page_table().set_access(region.address, region.size, access_for(permissions));
}

void KernelSectionMemory::release(link::Region region)
{
    (void)memory::kernel_page_table().set_access(region.address, region.size, memory::Access::None);
    memory::frame_allocator().free({region.address, region.size});
    m_bytes_in_use -= region.size;
}

} // namespace delos::loader
