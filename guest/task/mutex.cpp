// mutex.cpp: owner word plus wait queue; waiters are woken one at a time, in arrival order.
#include "task/mutex.h"

#include "log/panic.h"
#include "task/scheduler.h"

namespace delos::task {

void Mutex::lock()
{
    TaskId self = scheduler::current_task_id();
    bool restore = m_lock.lock();
    if (m_owner == self)
        panic("Mutex: locked twice by the same task");
    while (m_owner != kKernelOwner)
        m_waiters.wait(m_lock);
    m_owner = self;
    m_lock.unlock(restore);
}

bool Mutex::try_lock()
{
    SpinLockGuard guard(m_lock);
    if (m_owner != kKernelOwner)
        return false;
    m_owner = scheduler::current_task_id();
    return true;
}

void Mutex::unlock()
{
    SpinLockGuard guard(m_lock);
    if (m_owner != scheduler::current_task_id())
        panic("Mutex: unlocked by a task that does not hold it");
    m_owner = kKernelOwner;
    m_waiters.wake_one();
}

} // namespace delos::task
