// task_local.h: TaskLocal<T>, a value each task has its own copy of, created on first use in that
// task and destroyed when the task ends (so it counts among what the task owns).
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

#include "task/scheduler.h"
#include "task/task.h"

namespace delos::task {

// Hands out slot numbers; panics past kTaskLocalSlots (a fixed, small number of kinds).
std::size_t allocate_task_local_slot();

template <typename T>
class TaskLocal {
public:
    constexpr TaskLocal() = default;
    TaskLocal(const TaskLocal&) = delete;
    TaskLocal& operator=(const TaskLocal&) = delete;

    // The current task's value, default-constructed on its first use in this task.
    T& get()
    {
        Task* task = scheduler::current_task();
        std::size_t index = slot();
        void*& value = task->m_local_values[index];
        if (!value) {
            value = new T();
            task->m_local_destructors[index] = [](void* pointer) { delete static_cast<T*>(pointer); };
        }
        return *static_cast<T*>(value);
    }
    T* operator->() { return &get(); }
    T& operator*() { return get(); }

private:
    std::size_t slot()
    {
        std::size_t index = m_slot.load(std::memory_order_acquire);
        if (index != kUnassigned)
            return index;
        std::size_t fresh = allocate_task_local_slot();
        std::size_t expected = kUnassigned;
        // Two tasks racing for the first use: one slot wins (the other is wasted, not shared).
        if (!m_slot.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel))
            return expected;
        return fresh;
    }

    static constexpr std::size_t kUnassigned = ~std::size_t(0);
    std::atomic<std::size_t> m_slot{kUnassigned};
};

} // namespace delos::task
