// current_task.h: who is running: the current task's id, name, priority and the cell its entry
// point belongs to, plus per-task ownership reports (frames and heap bytes held).
#pragma once

#include <cstdint>

#include "task/task.h"

namespace delos::task {

struct TaskIdentity {
    TaskId id;
    const char* name;
    Priority priority;
    CellId cell;  // 0 = the kernel image
    std::uint64_t entry_address;
};

struct Ownership {
    std::int64_t heap_bytes;
    std::int64_t frames;
};

TaskIdentity current_identity();
// What `id` holds now (zeros for an id that is not alive).
Ownership ownership_of(TaskId id);
// Prints one line per live task: id, name, state, priority, cell, frames and heap bytes held.
void print_task_table();

} // namespace delos::task
