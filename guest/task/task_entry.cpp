// task_entry.cpp: a task's life on its own stack: run the entry, release everything the task
// owned (captures, task-local values), record what it still held, and end.
#include "task/context_switch.h"
#include "task/scheduler.h"
#include "task/task.h"
#include "task/task_registry.h"
#include "task/task_entry.h"

namespace delos::task {

void release_and_exit(Task* task)
{
    task->m_entry.reset();  // the closure's captures are destroyed now, charged back to whoever allocated them
    for (std::size_t slot = 0; slot < kTaskLocalSlots; ++slot) {
        if (void* value = task->m_local_values[slot]) {
            task->m_local_values[slot] = nullptr;
            task->m_local_destructors[slot](value);
        }
    }
    task->m_ownership_at_end = {registry::heap_bytes(task->id()), registry::frames(task->id())};
    scheduler::exit_current();
}

} // namespace delos::task

extern "C" void delos_task_entry(delos::task::Task* task)
{
    using namespace delos::task;
    scheduler::finish_first_switch();
    task->m_entry(*task);
    release_and_exit(task);
}
