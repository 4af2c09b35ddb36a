// lock_waits.cpp: the list of tasks waiting for a Mutex, cycle search along owner edges, ending a
// wait from outside, and the lock-wait deadline checked by the timer tick.
#include "task/lock_waits.h"

#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "task/mutex.h"
#include "task/scheduler.h"

namespace delos::task::lock_waits {

namespace {

SpinLock g_graph;
Task* g_first = nullptr;  // tasks waiting for a lock, linked through m_lock_wait (under g_graph)
std::uint64_t g_next_deadline = ~0ull;  // a hint for the timer: never later than the earliest
std::uint64_t g_budget_ns = kDefaultBudgetNanoseconds;
Handler g_handler = nullptr;
Statistics g_statistics{};

std::uint64_t ticks_of(std::uint64_t nanoseconds)
{
    std::uint64_t per_ms = tsc::ticks_per_second() / 1000;
    if (nanoseconds / 1'000'000 > ~0ull / (per_ms ? per_ms : 1))
        return ~0ull;
    return nanoseconds / 1'000'000 * per_ms + nanoseconds % 1'000'000 * per_ms / 1'000'000;
}

void lower_next_deadline(std::uint64_t deadline)
{
    if (deadline < __atomic_load_n(&g_next_deadline, __ATOMIC_RELAXED))
        __atomic_store_n(&g_next_deadline, deadline, __ATOMIC_RELAXED);
}

// The waiting task with this id, if it waits for a lock: only tasks in the list are looked at (a
// task in it cannot end while g_graph is held, so no pointer here can dangle).
Task* waiter_with_id(TaskId id)
{
    for (Task* task = g_first; task; task = task->m_lock_wait.next)
        if (task->m_id == id)
            return task;
    return nullptr;
}

} // namespace

SpinLock& graph_lock() { return g_graph; }

void begin_wait(Task& self, Mutex& mutex, std::uint64_t caller, bool interruptible)
{
    LockWait& wait = self.m_lock_wait;
    wait.mutex = &mutex;
    wait.caller = caller;
    wait.started_tsc = cpu::read_tsc();
    wait.interruptible = interruptible;
    wait.end = LockWaitEnd::None;
    wait.at_deadline = LockWaitEnd::Timeout;
    std::uint64_t budget = __atomic_load_n(&g_budget_ns, __ATOMIC_RELAXED);
    std::uint64_t ticks = budget == kNoBudget ? ~0ull : ticks_of(budget);
    wait.deadline_tsc = interruptible && ticks != ~0ull ? wait.started_tsc + ticks : ~0ull;
    wait.previous = nullptr;
    wait.next = g_first;
    if (g_first)
        g_first->m_lock_wait.previous = &self;
    g_first = &self;
    ++g_statistics.waits;
    lower_next_deadline(wait.deadline_tsc);
}

void end_wait(Task& self)
{
    LockWait& wait = self.m_lock_wait;
    if (!wait.mutex)
        return;
    if (wait.previous)
        wait.previous->m_lock_wait.next = wait.next;
    else
        g_first = wait.next;
    if (wait.next)
        wait.next->m_lock_wait.previous = wait.previous;
    wait = {};
}

void end_from_outside(Task& task, LockWaitEnd why)
{
    task.m_lock_wait.end = why;
    task.m_lock_wait.deadline_tsc = ~0ull;
    // Not in the queue if an unlock already woke it: it then finds the lock taken and leaves, or
    // free and takes it.
    if (task.m_lock_wait.mutex->take_out_waiter(&task))
        scheduler::wake(&task);
}

void break_cycle(Task& self)
{
    Task* chain[kMaxChain];
    std::size_t length = 0;
    Task* at = &self;
    for (;;) {
        chain[length++] = at;
        TaskId owner = at->m_lock_wait.mutex->owner();
        if (owner == kKernelOwner)
            return;  // free: the waiter takes it when it runs
        if (owner == self.m_id)
            break;
        Task* next = waiter_with_id(owner);
        // An owner not waiting for a lock runs, sleeps or waits for an event: no cycle here (the
        // lock-wait budget covers a cycle through waits this graph cannot see). One whose wait is
        // already ended leaves the cycle by itself.
        if (!next || next->m_lock_wait.end != LockWaitEnd::None || length == kMaxChain)
            return;
        for (std::size_t i = 0; i < length; ++i)
            if (chain[i] == next)
                return;  // a cycle not through self: found (and broken, if it could be) when it closed
        at = next;
    }
    ++g_statistics.cycles;
    for (std::size_t i = 0; i < length; ++i) {
        Task* victim = chain[i];
        if (!victim->m_lock_wait.interruptible)
            continue;
        if (victim == &self)
            victim->m_lock_wait.end = LockWaitEnd::Cycle;
        else
            end_from_outside(*victim, LockWaitEnd::Cycle);
        return;
    }
    kprint("delos: a cycle of {} lock waits closed by task {} ({}) has no wait that may be ended (kernel locks only); "
           "it stays\n", length, self.m_id, self.name());
}

void retry_later(Task& self, LockWaitEnd why)
{
    self.m_lock_wait.at_deadline = why;
    self.m_lock_wait.deadline_tsc = cpu::read_tsc() + ticks_of(kRetryNanoseconds);
    lower_next_deadline(self.m_lock_wait.deadline_tsc);
}

void set_handler(Handler handler) { __atomic_store_n(&g_handler, handler, __ATOMIC_RELEASE); }

Refusal raise(Task& self, const Fault& fault)
{
    Handler handler = __atomic_load_n(&g_handler, __ATOMIC_ACQUIRE);
    {
        SpinLockGuard guard(g_graph);
        ++g_statistics.raised;
    }
    Refusal refusal = handler ? handler(self, fault) : Refusal::Permanent;
    SpinLockGuard guard(g_graph);
    ++g_statistics.refused;
    return refusal;
}

void check_deadlines(std::uint64_t now_tsc)
{
    if (__atomic_load_n(&g_next_deadline, __ATOMIC_RELAXED) > now_tsc)
        return;
    SpinLockGuard guard(g_graph);
    std::uint64_t next = ~0ull;
    for (Task* task = g_first; task; task = task->m_lock_wait.next) {
        LockWait& wait = task->m_lock_wait;
        if (!wait.interruptible || wait.end != LockWaitEnd::None)
            continue;
        if (wait.deadline_tsc > now_tsc) {
            next = wait.deadline_tsc < next ? wait.deadline_tsc : next;
            continue;
        }
        if (wait.at_deadline == LockWaitEnd::Timeout)
            ++g_statistics.timeouts;
        end_from_outside(*task, wait.at_deadline);
    }
    __atomic_store_n(&g_next_deadline, next, __ATOMIC_RELAXED);
}

std::uint64_t next_deadline() { return __atomic_load_n(&g_next_deadline, __ATOMIC_RELAXED); }

void set_budget(std::uint64_t nanoseconds)
{
    __atomic_store_n(&g_budget_ns, nanoseconds ? nanoseconds : kDefaultBudgetNanoseconds, __ATOMIC_RELAXED);
}

std::uint64_t budget() { return __atomic_load_n(&g_budget_ns, __ATOMIC_RELAXED); }

Statistics statistics()
{
    SpinLockGuard guard(g_graph);
    return g_statistics;
}

} // namespace delos::task::lock_waits
