// counted_heap.h: the unit-test binary replaces the global operator new/delete with counting ones,
// so leak tests can ask for exact live allocations and bytes. Exact where malloc's own statistics
// (mallinfo2) are not: those count chunks in malloc's per-thread caches as in use, so they depend
// on which tests ran before.
#pragma once

#include <cstdint>

namespace delos::test {

// Allocations made through operator new (the guest libraries' containers and cells built for
// the host allocate that way) and not yet deleted.
std::int64_t live_allocations();
// Their usable bytes (malloc_usable_size of each block).
std::int64_t live_bytes();

} // namespace delos::test
