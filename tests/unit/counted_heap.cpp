// counted_heap.cpp: the counting global operator new/delete of the unit-test binary (see the header).
// Cells built for the host allocate through the host kernel's trampolines to ::operator new, so
// theirs count too.
#include "counted_heap.h"

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::int64_t> g_live_allocations{0};
std::atomic<std::int64_t> g_live_bytes{0};

void* counted_allocate(std::size_t size, std::size_t alignment, bool nothrow)
{
    void* pointer = nullptr;
    if (alignment <= alignof(std::max_align_t))
        pointer = std::malloc(size ? size : 1);
    else if (posix_memalign(&pointer, alignment, size ? size : 1) != 0)
        pointer = nullptr;
    if (!pointer) {
        if (nothrow)
            return nullptr;
        throw std::bad_alloc();
    }
    g_live_allocations.fetch_add(1, std::memory_order_relaxed);
    g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(pointer)), std::memory_order_relaxed);
    return pointer;
}

void counted_free(void* pointer)
{
    if (!pointer)
        return;
    g_live_allocations.fetch_sub(1, std::memory_order_relaxed);
    g_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(pointer)), std::memory_order_relaxed);
    std::free(pointer);
}
} // namespace

void* operator new(std::size_t size) { return counted_allocate(size, 0, false); }
void* operator new[](std::size_t size) { return counted_allocate(size, 0, false); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_allocate(size, 0, true); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_allocate(size, 0, true); }
void* operator new(std::size_t size, std::align_val_t alignment) { return counted_allocate(size, static_cast<std::size_t>(alignment), false); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return counted_allocate(size, static_cast<std::size_t>(alignment), false); }
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept
{
    return counted_allocate(size, static_cast<std::size_t>(alignment), true);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept
{
    return counted_allocate(size, static_cast<std::size_t>(alignment), true);
}
void operator delete(void* pointer) noexcept { counted_free(pointer); }
void operator delete[](void* pointer) noexcept { counted_free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { counted_free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { counted_free(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { counted_free(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { counted_free(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept { counted_free(pointer); }
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept { counted_free(pointer); }
void operator delete(void* pointer, const std::nothrow_t&) noexcept { counted_free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { counted_free(pointer); }
void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(pointer); }
void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(pointer); }

namespace delos::test {

std::int64_t live_allocations() { return g_live_allocations.load(std::memory_order_relaxed); }
std::int64_t live_bytes() { return g_live_bytes.load(std::memory_order_relaxed); }

} // namespace delos::test
