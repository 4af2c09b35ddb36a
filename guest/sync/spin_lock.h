// spin_lock.h: a spin lock that also masks interrupts, so handlers and tasks can share data.
#pragma once

#include <atomic>
#include <cstdint>

#include "arch/x86_64/cpu.h"

// How many SpinLocks this CPU holds. Fault containment reads it: a fault with interrupts masked
// but no spin lock held (a cell's code masked them, or faulted inside lock() before it took the
// lock) can be unwound; one with a lock held cannot (the lock would stay taken). Per CPU, not per
// task: the scheduler's lock is taken by one task and released by the one switched to. Only this
// CPU writes it, always with interrupts masked. One CPU runs tasks today (the scheduler's single
// Processor; stop_machine's other CPUs park holding none), so it is one word; when several CPUs run
// tasks it moves into the per-CPU area beside the scheduler's Processor.
extern "C" std::uint32_t delos_spin_locks_held;

// Called by lock() every kSpinsBetweenChecks spins. With interrupts masked and one CPU running
// tasks, a lock that stays taken while we spin is never released (its holder cannot run): a lock
// word corrupted by a wild write, or a lock a faulted task's abandoned frames still held. Past a
// budget (time, not spins, so that a holder on another CPU gets its due) it traps: fault
// containment ends the spinning task like a fault if the lock was asked for by a cell's code with
// no other spin lock held, and stops the guest with a report otherwise. A hang becomes a detected
// fault instead of a guest that stops without a word. `since` is the caller's (0 at first).
extern "C" void delos_spin_lock_waited(const void* lock, std::uint64_t* since);

namespace delos {

inline std::uint32_t spin_locks_held_on_this_cpu() { return __atomic_load_n(&delos_spin_locks_held, __ATOMIC_RELAXED); }

class SpinLock {
public:
    // Returns whether interrupts were enabled, to restore on unlock.
    bool lock()
    {
        bool interrupts_were_enabled = cpu::interrupts_enabled();
        // Nested locks skip the cli: in kvm_pvm native mode each one is a ~3 µs trap.
        if (interrupts_were_enabled)
            cpu::disable_interrupts();
        std::uint32_t spins = 0;
        std::uint64_t since = 0;
        while (m_locked.exchange(true, std::memory_order_acquire)) {
            while (m_locked.load(std::memory_order_relaxed)) {
                cpu::pause();
                if ((++spins & (kSpinsBetweenChecks - 1)) == 0)
                    delos_spin_lock_waited(this, &since);
            }
        }
        __atomic_store_n(&delos_spin_locks_held, delos_spin_locks_held + 1, __ATOMIC_RELAXED);
        return interrupts_were_enabled;
    }
    void unlock(bool restore_interrupts)
    {
        __atomic_store_n(&delos_spin_locks_held, delos_spin_locks_held - 1, __ATOMIC_RELAXED);
        m_locked.store(false, std::memory_order_release);
        if (restore_interrupts)
            cpu::enable_interrupts();
    }
    bool is_locked() const { return m_locked.load(std::memory_order_relaxed); }

    static constexpr std::uint32_t kSpinsBetweenChecks = 1u << 20;

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
