// semaphore.cpp: count plus wait queue.
#include "task/semaphore.h"

namespace delos::task {

void Semaphore::acquire()
{
    bool restore = m_lock.lock();
    while (m_count == 0)
        m_waiters.wait(m_lock);
    --m_count;
    m_lock.unlock(restore);
}

bool Semaphore::try_acquire()
{
    SpinLockGuard guard(m_lock);
    if (m_count == 0)
        return false;
    --m_count;
    return true;
}

void Semaphore::release(std::uint64_t count)
{
    SpinLockGuard guard(m_lock);
    m_count += count;
    for (std::uint64_t i = 0; i < count && m_waiters.wake_one(); ++i) {
    }
}

} // namespace delos::task
