// condition_variable.h: waiting for a condition protected by a Mutex: wait() releases the mutex
// and sleeps in one step, so a notify after the condition changed is never missed.
#pragma once

#include "sync/spin_lock.h"
#include "task/mutex.h"
#include "task/wait_queue.h"

namespace delos::task {

class ConditionVariable {
public:
    ConditionVariable() = default;
    ConditionVariable(const ConditionVariable&) = delete;
    ConditionVariable& operator=(const ConditionVariable&) = delete;

    // `guard` holds the mutex; returns with it held again. May wake spuriously: loop on the condition.
    void wait(MutexGuard& guard);
    template <typename Predicate>
    void wait_until(MutexGuard& guard, Predicate ready)
    {
        while (!ready())
            wait(guard);
    }

    void notify_one();
    void notify_all();

private:
    SpinLock m_lock;  // taken before the mutex is released; notifiers take it too
    WaitQueue m_waiters;
};

} // namespace delos::task
