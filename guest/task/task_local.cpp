// task_local.cpp: the slot counter behind TaskLocal<T>.
#include "task/task_local.h"

#include "log/panic.h"

namespace delos::task {

namespace {
std::atomic<std::size_t> g_next_slot{0};
}

std::size_t allocate_task_local_slot()
{
    std::size_t slot = g_next_slot.fetch_add(1, std::memory_order_relaxed);
    if (slot >= kTaskLocalSlots)
        panic("TaskLocal: more kinds of task-local value than kTaskLocalSlots");
    return slot;
}

} // namespace delos::task
