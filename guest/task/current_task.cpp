// current_task.cpp: identity of the running task and ownership reports.
#include "task/current_task.h"

#include "log/kernel_log.h"
#include "task/scheduler.h"
#include "task/task_registry.h"

namespace delos::task {

TaskIdentity current_identity()
{
    Task* task = scheduler::current_task();
    if (!task)
        return {kKernelOwner, "kernel", Priority::Normal, 0, 0};
    return {task->id(), task->name(), task->priority(), task->cell(), task->entry_address()};
}

Ownership ownership_of(TaskId id) { return {registry::heap_bytes(id), registry::frames(id)}; }

void print_task_table()
{
    struct Row {
        TaskId id;
        const char* name;
        TaskState state;
        Priority priority;
        CellId cell;
    };
    // Copied out first: printing may block on the console, which the registry lock must not.
    constexpr std::size_t kMaxRows = 64;
    Row rows[kMaxRows];
    std::size_t count = 0;
    registry::for_each([&](Task& task) {
        if (count < kMaxRows)
            rows[count++] = {task.id(), task.name(), task.state(), task.priority(), task.cell()};
    });
    kprint("tasks: {} live\n", registry::live_count());
    for (std::size_t i = 0; i < count; ++i) {
        Ownership held = ownership_of(rows[i].id);
        kprint("  {:#x} {} {} {} cell={} frames={} heap_bytes={}\n", rows[i].id, rows[i].name, task_state_name(rows[i].state),
               priority_name(rows[i].priority), rows[i].cell, held.frames, held.heap_bytes);
    }
}

} // namespace delos::task
