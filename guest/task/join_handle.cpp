// join_handle.cpp: waiting for a task's end on its join queue.
#include "task/join_handle.h"

#include "log/panic.h"
#include "task/scheduler.h"

namespace delos::task {

void wait_for_end(Task& task)
{
    if (&task == scheduler::current_task())
        panic("join: a task cannot wait for its own end");
    bool restore = task.m_join_lock.lock();
    while (!task.m_finished)
        task.m_joiners.wait(task.m_join_lock);
    task.m_join_lock.unlock(restore);
}

bool task_has_finished(Task& task)
{
    SpinLockGuard guard(task.m_join_lock);
    return task.m_finished;
}

} // namespace delos::task
