// kernel_section_memory.h: the kernel's SectionMemory for the cell linker: contiguous frames
// (the identity map makes them contiguous virtual memory) with page permissions from the linear map.
#pragma once

#include "linker/section_memory.h"

namespace delos::loader {

class KernelSectionMemory final : public link::SectionMemory {
public:
    ErrorOr<link::Region> allocate(std::uint64_t size, std::uint64_t alignment) override;
    ErrorOr<void> protect(link::Region region, link::Permissions permissions) override;
    void release(link::Region region) override;

    std::uint64_t bytes_in_use() const { return m_bytes_in_use; }

private:
    std::uint64_t m_bytes_in_use = 0;
};

} // namespace delos::loader
