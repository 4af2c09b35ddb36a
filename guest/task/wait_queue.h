// wait_queue.h: tasks waiting for a condition guarded by a spin lock the caller owns; the
// building block of mutex, condition variable, semaphore, channel and join.
#pragma once

#include <cstddef>

#include "sync/spin_lock.h"

namespace delos::task {

class Task;

// FIFO of blocked tasks, linked through Task::m_wait_next (a task waits on one queue at a time).
// Protocol: check the condition with `lock` held; if it does not hold, wait(lock); loop. Wakers
// change the condition with the same lock held and then call wake_one/wake_all. Since wait()
// enqueues the task and blocks it before `lock` is released, no wake-up is lost.
class WaitQueue {
public:
    WaitQueue() = default;
    WaitQueue(const WaitQueue&) = delete;
    WaitQueue& operator=(const WaitQueue&) = delete;

    // `lock` is held (by SpinLock::lock(), so interrupts are off). Blocks the current task,
    // releasing `lock` while it sleeps; returns with `lock` held again. Wake-ups may be
    // spurious: re-check the condition.
    void wait(SpinLock& lock);

    // With the condition's lock held. Returns whether a task was woken / how many.
    bool wake_one();
    std::size_t wake_all();
    // With the condition's lock held: takes `task` out of the queue if it is in it (it is not
    // woken); whether it was there. For a wait ended from outside (lock_waits.h).
    bool remove(Task* task);
    bool empty() const { return m_head == nullptr; }

private:
    Task* m_head = nullptr;
    Task* m_tail = nullptr;
};

} // namespace delos::task
