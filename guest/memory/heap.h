// heap.h: the kernel heap behind operator new: size classes for small objects, whole pages for
// large ones. Each allocation records its owner (a task id) so ownership can be reported.
#pragma once

#include <cstddef>
#include <cstdint>

namespace delos::memory {

struct HeapStatistics {
    std::uint64_t bytes_in_use;       // requested bytes not yet freed
    std::uint64_t allocations_in_use;
    std::uint64_t pages_held;         // frames the heap holds (slabs and large blocks)
};

void* heap_allocate(std::size_t size, std::size_t alignment);
void heap_free(void* pointer);
// The requested size of a live allocation.
std::size_t heap_allocation_size(const void* pointer);
HeapStatistics heap_statistics();

// The owner new allocations get now (the current task's id, from the owner hook; 0 = the kernel).
std::uint64_t heap_current_owner();
// Marks a live allocation as recorded in a call's ledger (memory/call_ownership.h): freeing it
// then tells the ledger. The header's magic is checked (a foreign pointer is refused).
void heap_mark_call_owned(void* pointer, bool owned);
// Whether `pointer` is still a live allocation marked call-owned (a leftover a ledger may free).
bool heap_is_live_call_owned(const void* pointer);

// Whether writing `count` bytes at `destination` stays inside one heap block, if it starts in
// one: memcpy/memset/memmove ask before they write (runtime/memory_functions.cpp). A length or
// destination a fault left wrong (a skipped instruction in a cell's inlined String code) would
// otherwise copy over the blocks after it, the heap's free lists among them, and the kernel
// would die later with no trace of who did it. Memory that is not the heap's is not judged.
// Lock-free: a byte per RAM frame says which slab class (or large block) the frame belongs to.
bool heap_write_fits(const void* destination, std::size_t count);
// A write that heap_write_fits refused: with interrupts on, the calling task's fault (an
// invalid opcode containment unwinds, nothing written); with them masked, a panic.
[[noreturn]] void refuse_heap_overflow(const void* destination, std::size_t count);

// Who owns new allocations (the scheduler installs the current task's id); 0 = the kernel.
using HeapOwnerHook = std::uint64_t (*)();
// Called with (owner, +bytes) on allocation and (owner, -bytes) on free, for per-task accounting.
using HeapAccountingHook = void (*)(std::uint64_t owner, std::int64_t bytes);
void set_heap_owner_hooks(HeapOwnerHook owner, HeapAccountingHook accounting);

} // namespace delos::memory
