// stack_cache.h: task stacks kept for reuse, so spawning a task does not remap pages each time.
// Cached stacks keep their guard page unmapped; the cache is bounded and can be emptied.
#pragma once

#include <cstddef>

#include "lib/core/error_or.h"
#include "memory/kernel_stack.h"

namespace delos::task::stack_cache {

// 28 KiB usable + a guard page: 16 KiB for the task, the lowest 12 KiB its overflow reserve (the
// containment path runs there after a checked prologue finds the stack exhausted, or after
// corrupted code moved rsp below the limit; its walk of the unwind tables takes ~8 KiB; task.h).
inline constexpr std::size_t kDefaultStackPages = 7;
inline constexpr std::size_t kMaxCachedStacks = 64;

// A stack of `pages` usable pages: from the cache when it has one of the default size.
ErrorOr<memory::KernelStack> take(std::size_t pages);
// Keeps a default-size stack for reuse (up to the bound); frees any other.
void give_back(memory::KernelStack stack);

// Frees every cached stack (for tests that compare free frames against a baseline).
void release_all();
std::size_t cached_count();

} // namespace delos::task::stack_cache
