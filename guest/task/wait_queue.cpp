// wait_queue.cpp: enqueue-then-block and FIFO wake-up.
#include "task/wait_queue.h"

#include "task/scheduler.h"
#include "task/task.h"

namespace delos::task {

void WaitQueue::wait(SpinLock& lock)
{
    Task* self = scheduler::current_task();
    self->m_wait_next = nullptr;
    if (m_tail)
        m_tail->m_wait_next = self;
    else
        m_head = self;
    m_tail = self;
    scheduler::block_current_releasing(lock);
    (void)lock.lock();  // interrupts are already off: the caller's saved state stands
    // A spurious return (we were not dequeued) is impossible: only wake_* dequeues and wakes.
}

bool WaitQueue::wake_one()
{
    Task* task = m_head;
    if (!task)
        return false;
    m_head = task->m_wait_next;
    if (!m_head)
        m_tail = nullptr;
    task->m_wait_next = nullptr;
    scheduler::wake(task);
    return true;
}

bool WaitQueue::remove(Task* task)
{
    Task* previous = nullptr;
    for (Task* at = m_head; at; previous = at, at = at->m_wait_next) {
        if (at != task)
            continue;
        if (previous)
            previous->m_wait_next = at->m_wait_next;
        else
            m_head = at->m_wait_next;
        if (m_tail == at)
            m_tail = previous;
        at->m_wait_next = nullptr;
        return true;
    }
    return false;
}

std::size_t WaitQueue::wake_all()
{
    std::size_t woken = 0;
    while (wake_one())
        ++woken;
    return woken;
}

} // namespace delos::task
