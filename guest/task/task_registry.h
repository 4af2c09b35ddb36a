// task_registry.h: every live task by id (a slot plus a generation), and the per-task ownership
// counters the heap and MappedPages charge through their hooks. Counters live here, not in the
// Task, so a late free (memory handed to another task) never touches a freed Task.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "task/task.h"

namespace delos::task::registry {

inline constexpr std::size_t kMaxTasks = 8192;

// Gives `task` an id and a slot; fails when kMaxTasks tasks are alive.
ErrorOr<TaskId> add(Task* task);
// Frees the slot; its counters are kept until the slot is reused (so late frees are dropped).
void remove(Task* task);
// The live task with this id, or null.
Task* find(TaskId id);

// Heap bytes / frames currently charged to `id` (0 for unknown ids).
std::int64_t heap_bytes(TaskId id);
std::int64_t frames(TaskId id);
// Charges `amount` to `id` if it is still alive (the heap's and MappedPages' accounting hooks).
void charge_heap(TaskId id, std::int64_t bytes);
void charge_frames(TaskId id, std::int64_t frames);

std::size_t live_count();
// visit(Task&) for every live task, with the registry locked: the visitor must not block.
template <typename Visitor>
void for_each(Visitor&& visit);

// Implementation detail of for_each.
void lock_for_iteration(bool& restore);
void unlock_after_iteration(bool restore);
Task* slot(std::size_t index);

template <typename Visitor>
void for_each(Visitor&& visit)
{
    bool restore;
    lock_for_iteration(restore);
    for (std::size_t i = 1; i < kMaxTasks; ++i) {
        if (Task* task = slot(i))
            visit(*task);
    }
    unlock_after_iteration(restore);
}

} // namespace delos::task::registry
