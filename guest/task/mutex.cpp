// mutex.cpp: owner word plus wait queue, under the wait-for graph's lock; waiters are woken one at
// a time, in arrival order; a cell's lock wait may be ended (lock_waits.h).
#include "task/mutex.h"

#include "arch/x86_64/cpu.h"
#include "log/panic.h"
#include "task/lock_waits.h"
#include "task/scheduler.h"

namespace delos::task {

void Mutex::lock() { lock_waiting(0, false); }

void Mutex::lock_for_cell(std::uint64_t caller) { lock_waiting(caller, true); }

void Mutex::lock_waiting(std::uint64_t caller, bool cells_lock)
{
    Task* self = scheduler::current_task();
    TaskId id = self ? self->m_id : kKernelOwner;
    SpinLock& graph = lock_waits::graph_lock();
    bool restore = graph.lock();
    if (m_owner == id)
        panic("Mutex: locked twice by the same task");
    if (m_owner == kKernelOwner) {
        __atomic_store_n(&m_owner, id, __ATOMIC_RELAXED);
        if (self)
            ++self->m_mutexes_held;
        graph.unlock(restore);
        return;
    }
    // Interrupts on at the call: a task in masked code (a spin lock held) is never unwound.
    bool interruptible = cells_lock && restore && self->cell() != kKernelCell;
    lock_waits::begin_wait(*self, *this, caller, interruptible);
    while (m_owner != kKernelOwner) {
        if (self->m_lock_wait.end == LockWaitEnd::None)
            lock_waits::break_cycle(*self);
        LockWaitEnd why = self->m_lock_wait.end;
        if (why == LockWaitEnd::None) {
            m_waiters.wait(graph);
            continue;  // a free lock is taken even if the wait was ended meanwhile: it ended well
        }
        // Ended from outside (or its own wait closed a cycle): out of the graph, then unwound.
        lock_waits::Fault fault{this, why, caller, cpu::read_tsc() - self->m_lock_wait.started_tsc};
        std::uint64_t started = self->m_lock_wait.started_tsc;
        lock_waits::end_wait(*self);
        graph.unlock(restore);
        lock_waits::Refusal refusal = lock_waits::raise(*self, fault);  // returns only if refused
        (void)graph.lock();
        lock_waits::begin_wait(*self, *this, caller, refusal == lock_waits::Refusal::Transient);
        self->m_lock_wait.started_tsc = started;
        if (refusal == lock_waits::Refusal::Transient)
            lock_waits::retry_later(*self, why);
    }
    lock_waits::end_wait(*self);
    __atomic_store_n(&m_owner, id, __ATOMIC_RELAXED);
    ++self->m_mutexes_held;
    graph.unlock(restore);
}

bool Mutex::try_lock()
{
    SpinLockGuard guard(lock_waits::graph_lock());
    if (m_owner != kKernelOwner)
        return false;
    __atomic_store_n(&m_owner, scheduler::current_task_id(), __ATOMIC_RELAXED);
    if (Task* self = scheduler::current_task())
        ++self->m_mutexes_held;
    return true;
}

void Mutex::unlock()
{
    SpinLockGuard guard(lock_waits::graph_lock());
    if (m_owner != scheduler::current_task_id())
        panic("Mutex: unlocked by a task that does not hold it");
    __atomic_store_n(&m_owner, kKernelOwner, __ATOMIC_RELAXED);
    if (Task* self = scheduler::current_task(); self && self->m_mutexes_held > 0)
        --self->m_mutexes_held;
    m_waiters.wake_one();
}

} // namespace delos::task
