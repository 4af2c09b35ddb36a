// task_entry.h: how a task ends once its entry is done with (returned, or unwound after a fault).
#pragma once

#include "task/task.h"

namespace delos::task {

// Destroys the closure and task-local values, records what the task still held, and exits.
// Runs on the task's own stack; m_end says how it ended.
[[noreturn]] void release_and_exit(Task* task);

} // namespace delos::task
