// fake_frame_allocator.h: the guest's frame allocator on the host, for guest code compiled into
// the unit tests (the virtio driver, the linear map): frames are host memory, and which "RAM"
// frames count as free is set by the test.
#pragma once

#include <cstdint>
#include <functional>

namespace delos::test {

// What FrameAllocator::is_free answers (nothing is free until a test says so).
void set_free_frames(std::function<bool(std::uint64_t address)> is_free);

} // namespace delos::test
