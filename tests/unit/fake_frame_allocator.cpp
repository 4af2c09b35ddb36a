// fake_frame_allocator.cpp: FrameAllocator and the device-frame helpers over host memory.
#include "fake_frame_allocator.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "memory/frame_allocator.h"
#include "memory/mapped_pages.h"

namespace delos::test {
namespace {
std::function<bool(std::uint64_t)> g_is_free;
}
void set_free_frames(std::function<bool(std::uint64_t address)> is_free) { g_is_free = std::move(is_free); }
} // namespace delos::test

namespace delos::memory {

ErrorOr<PhysicalRange> FrameAllocator::allocate(std::size_t count, std::uint64_t alignment)
{
    void* memory = std::aligned_alloc(alignment, count * kPageSize);
    if (!memory)
        return Error::make(ErrorCode::OutOfMemory, "host test allocator");
    std::memset(memory, 0xa5, count * kPageSize);  // whoever uses it must zero it
    return PhysicalRange{reinterpret_cast<std::uint64_t>(memory), count * kPageSize};
}

void FrameAllocator::free(PhysicalRange range) { std::free(reinterpret_cast<void*>(range.start)); }

bool FrameAllocator::is_free(std::uint64_t address) const { return test::g_is_free && test::g_is_free(address); }

FrameAllocator& frame_allocator()
{
    static FrameAllocator allocator;
    return allocator;
}

// The host has no linear map: device frames are the fake allocator's memory as they are.
ErrorOr<PhysicalRange> allocate_device_frames(std::size_t count) { return frame_allocator().allocate(count); }
void free_device_frames(PhysicalRange frames) { frame_allocator().free(frames); }

} // namespace delos::memory
