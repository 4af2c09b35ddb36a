// task_registry.cpp: the slot table, its free list, and the ownership counters.
#include "task/task_registry.h"

#include "sync/spin_lock.h"

namespace delos::task::registry {

namespace {

constexpr unsigned kSlotBits = 13;
static_assert((1u << kSlotBits) == kMaxTasks);

struct Registry {
    SpinLock lock;
    Task* tasks[kMaxTasks] = {};
    TaskId ids[kMaxTasks] = {};            // id of the task in the slot (or of its last occupant)
    std::uint32_t generations[kMaxTasks] = {};
    std::int64_t heap_bytes[kMaxTasks] = {};
    std::int64_t frames[kMaxTasks] = {};
    std::uint16_t free_slots[kMaxTasks] = {};  // a stack of unused slots
    std::size_t free_count = 0;
    std::size_t next_untouched = 1;        // slot 0 is never used: id 0 is the kernel
    std::size_t live = 0;
};

Registry g_registry;

std::size_t slot_of(TaskId id) { return id & (kMaxTasks - 1); }

} // namespace

ErrorOr<TaskId> add(Task* task)
{
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot;
    if (g_registry.free_count > 0)
        slot = g_registry.free_slots[--g_registry.free_count];
    else if (g_registry.next_untouched < kMaxTasks)
        slot = g_registry.next_untouched++;
    else
        return Error::make(ErrorCode::Busy, "spawn: too many live tasks", kMaxTasks);
    std::uint32_t generation = ++g_registry.generations[slot] & ((1u << (32 - kSlotBits)) - 1);
    if (generation == 0)
        generation = g_registry.generations[slot] = 1;
    TaskId id = (generation << kSlotBits) | static_cast<TaskId>(slot);
    g_registry.tasks[slot] = task;
    g_registry.ids[slot] = id;
    g_registry.heap_bytes[slot] = 0;
    g_registry.frames[slot] = 0;
    ++g_registry.live;
    return id;
}

void remove(Task* task)
{
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot = slot_of(task->id());
    if (g_registry.tasks[slot] != task)
        return;
    g_registry.tasks[slot] = nullptr;
    g_registry.ids[slot] = kKernelOwner;  // late charges to the old id are dropped
    g_registry.free_slots[g_registry.free_count++] = static_cast<std::uint16_t>(slot);
    --g_registry.live;
}

Task* find(TaskId id)
{
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot = slot_of(id);
    return id != kKernelOwner && g_registry.ids[slot] == id ? g_registry.tasks[slot] : nullptr;
}

std::int64_t heap_bytes(TaskId id)
{
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot = slot_of(id);
    return id != kKernelOwner && g_registry.ids[slot] == id ? g_registry.heap_bytes[slot] : 0;
}

std::int64_t frames(TaskId id)
{
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot = slot_of(id);
    return id != kKernelOwner && g_registry.ids[slot] == id ? g_registry.frames[slot] : 0;
}

void charge_heap(TaskId id, std::int64_t bytes)
{
    if (id == kKernelOwner)
        return;
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot = slot_of(id);
    if (g_registry.ids[slot] == id)
        g_registry.heap_bytes[slot] += bytes;
}

void charge_frames(TaskId id, std::int64_t frames)
{
    if (id == kKernelOwner)
        return;
    SpinLockGuard guard(g_registry.lock);
    std::size_t slot = slot_of(id);
    if (g_registry.ids[slot] == id)
        g_registry.frames[slot] += frames;
}

std::size_t live_count()
{
    SpinLockGuard guard(g_registry.lock);
    return g_registry.live;
}

void lock_for_iteration(bool& restore) { restore = g_registry.lock.lock(); }
void unlock_after_iteration(bool restore) { g_registry.lock.unlock(restore); }
Task* slot(std::size_t index) { return g_registry.tasks[index]; }

} // namespace delos::task::registry
