// mutex.h: a blocking mutual-exclusion lock for tasks (sleeps instead of spinning), and its guard.
// Its owner and waiters are edges of the wait-for graph (lock_waits.h), under the graph's lock.
#pragma once

#include <cstdint>

#include "task/task.h"
#include "task/wait_queue.h"

namespace delos::task {

class Mutex {
public:
    Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    // The kernel's own lock: the wait is never ended from outside (lock_waits.h).
    void lock();
    // A cell's lock, asked for by the cell code at `caller`: a wait that closes a cycle or
    // outlasts the lock-wait budget ends, and the task is unwound from it as a DEADLOCK fault.
    void lock_for_cell(std::uint64_t caller);
    bool try_lock();
    // Only the owner may unlock (checked).
    void unlock();
    bool is_locked() const { return __atomic_load_n(&m_owner, __ATOMIC_RELAXED) != kKernelOwner; }
    TaskId owner() const { return __atomic_load_n(&m_owner, __ATOMIC_RELAXED); }

    // For lock_waits, with its graph lock held: takes a waiter out of the queue (not woken).
    bool take_out_waiter(Task* task) { return m_waiters.remove(task); }

private:
    void lock_waiting(std::uint64_t caller, bool cells_lock);

    TaskId m_owner = kKernelOwner;  // written under lock_waits::graph_lock()
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
