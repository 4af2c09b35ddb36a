// task.cpp: task records: names, lifetime, and the names of their states.
#include "task/task.h"

#include "task/task_registry.h"

namespace delos::task {

Task::Task(StringView name, Priority priority) : m_priority(priority)
{
    std::size_t length = name.size() < kTaskNameLength - 1 ? name.size() : kTaskNameLength - 1;
    for (std::size_t i = 0; i < length; ++i)
        m_name[i] = name[i];
    m_name[length] = '\0';
}

Task::~Task()
{
    if (m_destroy_result)
        m_destroy_result(m_result);
    if (m_id != kKernelOwner)
        registry::remove(this);
}

void Task::drop_reference()
{
    if (m_references.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete this;
}

const char* task_state_name(TaskState state)
{
    switch (state) {
    case TaskState::Ready: return "ready";
    case TaskState::Running: return "running";
    case TaskState::Blocked: return "blocked";
    case TaskState::Sleeping: return "sleeping";
    case TaskState::Dead: return "dead";
    }
    return "?";
}

const char* priority_name(Priority priority)
{
    switch (priority) {
    case Priority::Low: return "low";
    case Priority::Normal: return "normal";
    case Priority::High: return "high";
    }
    return "?";
}

const char* task_end_name(TaskEnd end)
{
    switch (end) {
    case TaskEnd::Returned: return "returned";
    case TaskEnd::Faulted: return "faulted";
    case TaskEnd::Killed: return "killed";
    }
    return "?";
}

} // namespace delos::task
