// device_activity.cpp: the flag-plus-wait-queue handover between a device interrupt and a task.
#include "drivers/device_activity.h"

#include "arch/x86_64/cpu.h"
#include "task/scheduler.h"

namespace delos::devices {

void DeviceActivity::signal()
{
    bool restore = m_lock.lock();
    m_pending.store(true, std::memory_order_release);
    m_waiters.wake_all();
    m_lock.unlock(restore);
}

void DeviceActivity::wait()
{
    if (!task::scheduler::started()) {
        // No tasks yet, so nothing else could run: halt until the interrupt.
        cpu::disable_interrupts();
        if (!take())
            cpu::enable_interrupts_and_halt();  // an interrupt between the check and hlt still wakes us
        else
            cpu::enable_interrupts();
        m_pending.store(false, std::memory_order_relaxed);
        return;
    }
    // Checked and blocked under the lock signal() takes: a signal in between is not lost.
    bool restore = m_lock.lock();
    while (!take())
        m_waiters.wait(m_lock);
    m_lock.unlock(restore);
    cpu::enable_interrupts();
}

} // namespace delos::devices
