// condition_variable.cpp: release-and-sleep under the condition's own spin lock.
#include "task/condition_variable.h"

namespace delos::task {

void ConditionVariable::wait(MutexGuard& guard)
{
    bool restore = m_lock.lock();
    guard.mutex().unlock();  // a notifier now needs m_lock, which we hold until we are queued and asleep
    m_waiters.wait(m_lock);
    m_lock.unlock(restore);
    guard.mutex().lock();
}

void ConditionVariable::notify_one()
{
    SpinLockGuard guard(m_lock);
    m_waiters.wake_one();
}

void ConditionVariable::notify_all()
{
    SpinLockGuard guard(m_lock);
    m_waiters.wake_all();
}

} // namespace delos::task
