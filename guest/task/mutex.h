// mutex.h: a blocking mutual-exclusion lock for tasks (sleeps instead of spinning), and its guard.
#pragma once

#include "sync/spin_lock.h"
#include "task/task.h"
#include "task/wait_queue.h"

namespace delos::task {

class Mutex {
public:
    Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    void lock();
    bool try_lock();
    // Only the owner may unlock (checked).
    void unlock();
    bool is_locked() const { return m_owner != kKernelOwner; }
    TaskId owner() const { return m_owner; }

private:
    SpinLock m_lock;  // guards m_owner and m_waiters
    TaskId m_owner = kKernelOwner;
    WaitQueue m_waiters;
};

class MutexGuard {
public:
    explicit MutexGuard(Mutex& mutex) : m_mutex(mutex) { m_mutex.lock(); }
    ~MutexGuard() { m_mutex.unlock(); }
    MutexGuard(const MutexGuard&) = delete;
    MutexGuard& operator=(const MutexGuard&) = delete;
    Mutex& mutex() { return m_mutex; }

private:
    Mutex& m_mutex;
};

} // namespace delos::task
