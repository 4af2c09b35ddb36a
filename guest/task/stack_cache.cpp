// stack_cache.cpp: a bounded LIFO of default-size task stacks.
#include "task/stack_cache.h"

#include <new>
#include <utility>

#include "sync/spin_lock.h"

namespace delos::task::stack_cache {

namespace {

struct Cache {
    SpinLock lock;
    // Constructed in place as stacks arrive; KernelStack is a move-only owner of frames.
    alignas(memory::KernelStack) unsigned char storage[kMaxCachedStacks][sizeof(memory::KernelStack)];
    std::size_t count = 0;

    memory::KernelStack* at(std::size_t index) { return std::launder(reinterpret_cast<memory::KernelStack*>(storage[index])); }
};

Cache g_cache;

} // namespace

ErrorOr<memory::KernelStack> take(std::size_t pages)
{
    if (pages == kDefaultStackPages) {
        bool restore = g_cache.lock.lock();
        if (g_cache.count > 0) {
            memory::KernelStack* cached = g_cache.at(--g_cache.count);
            memory::KernelStack stack = std::move(*cached);
            cached->~KernelStack();
            g_cache.lock.unlock(restore);
            // Zeroed for its next task (here, not when given back: a task that ends may still be
            // running on it then). Live swaps scan task stacks conservatively for addresses in a
            // retiring cell (linker/kernel/kernel_task_inspector.cpp); a slot the next task's
            // frames leave unwritten would still hold the previous owner's return addresses and
            // keep an old cell retiring for as long as that task lives (a reloaded cell's service
            // task did).
            __builtin_memset(reinterpret_cast<void*>(stack.bottom()), 0, stack.top() - stack.bottom());
            return stack;
        }
        g_cache.lock.unlock(restore);
    }
    return memory::KernelStack::allocate(pages);
}

void give_back(memory::KernelStack stack)
{
    if (!stack.valid() || stack.top() - stack.bottom() != kDefaultStackPages * memory::kPageSize)
        return;  // `stack` frees itself
    SpinLockGuard guard(g_cache.lock);
    if (g_cache.count < kMaxCachedStacks)
        new (g_cache.storage[g_cache.count++]) memory::KernelStack(std::move(stack));
}

void release_all()
{
    for (;;) {
        memory::KernelStack stack;
        {
            SpinLockGuard guard(g_cache.lock);
            if (g_cache.count == 0)
                return;
            memory::KernelStack* cached = g_cache.at(--g_cache.count);
            stack = std::move(*cached);
            cached->~KernelStack();
        }
    }  // `stack` is freed outside the lock
}

std::size_t cached_count()
{
    SpinLockGuard guard(g_cache.lock);
    return g_cache.count;
}

} // namespace delos::task::stack_cache
