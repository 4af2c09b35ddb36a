// device_activity.h: "the device has interrupted since you last looked": set from an interrupt
// handler, waited for by a task that blocks on a wait queue meanwhile (other tasks run).
#pragma once

#include <atomic>

#include "sync/spin_lock.h"
#include "task/wait_queue.h"

namespace delos::devices {

class DeviceActivity {
public:
    // Interrupt context or task: records activity and wakes the waiters.
    void signal();
    // Blocks the calling task until signal() has been called since the last wait() or take()
    // returned, and consumes it (returns at once if it already was). Returns with interrupts
    // enabled. Before the scheduler runs, halts the CPU until an interrupt instead. No deadline:
    // callers that need one poll take() from a timed sleep.
    void wait();
    // Consumes pending activity without blocking; whether there was any.
    bool take() { return m_pending.exchange(false, std::memory_order_acquire); }
    // Whether activity is pending, without consuming it (a busy-poll's exit condition).
    bool pending() const { return m_pending.load(std::memory_order_acquire); }

private:
    std::atomic<bool> m_pending{false};
    SpinLock m_lock;  // hands m_pending over to m_waiters without a lost wake-up
    task::WaitQueue m_waiters;
};

} // namespace delos::devices
