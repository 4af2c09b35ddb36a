// spin_lock.h: a spin lock that also masks interrupts, so handlers and tasks can share data.
#pragma once

#include <atomic>

#include "arch/x86_64/cpu.h"

namespace delos {

class SpinLock {
public:
    // Returns whether interrupts were enabled, to restore on unlock.
    bool lock()
    {
        bool interrupts_were_enabled = cpu::interrupts_enabled();
        // Nested locks skip the cli: in kvm_pvm native mode each one is a ~3 µs trap.
        if (interrupts_were_enabled)
            cpu::disable_interrupts();
        while (m_locked.exchange(true, std::memory_order_acquire)) {
            while (m_locked.load(std::memory_order_relaxed))
                cpu::pause();
        }
        return interrupts_were_enabled;
    }
    void unlock(bool restore_interrupts)
    {
        m_locked.store(false, std::memory_order_release);
        if (restore_interrupts)
            cpu::enable_interrupts();
    }
    bool is_locked() const { return m_locked.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> m_locked{false};
};

class SpinLockGuard {
public:
    explicit SpinLockGuard(SpinLock& lock) : m_lock(lock), m_restore(lock.lock()) {}
    ~SpinLockGuard() { m_lock.unlock(m_restore); }
    SpinLockGuard(const SpinLockGuard&) = delete;
    SpinLockGuard& operator=(const SpinLockGuard&) = delete;

private:
    SpinLock& m_lock;
    bool m_restore;
};

} // namespace delos
