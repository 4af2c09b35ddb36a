// lock_waits.h: the wait-for graph of sleeping locks (task::Mutex): which task waits for a lock
// whose owner waits for which lock. A wait that closes a cycle, or an interruptible wait that
// outlasts the lock-wait budget, is ended from outside: the chosen task leaves its wait and is
// unwound from there as a DEADLOCK fault (docs/deadlocks.md).
//
// Which waits may be ended (the rule): only a **cell's own lock** (a delos_cell_mutex, taken by a
// cell's code through the cell ABI, abi/cell_mutex.h) waited for by a task of a cell, with
// interrupts on. The kernel's own mutexes are edges of the graph (a cycle through one is broken at
// a cell's wait in it) but are never ended: kernel code may be midway through state they guard.
// Waits for events that may legitimately never come (a channel, a condition variable, a semaphore,
// a device, join, sleep) are not lock waits: no owner is waited for, and nothing ends them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sync/spin_lock.h"
#include "task/task.h"

namespace delos::task::lock_waits {

inline constexpr std::uint64_t kDefaultBudgetNanoseconds = 10'000'000'000;  // a cell lock held 10 s is stuck
inline constexpr std::uint64_t kNoBudget = ~std::uint64_t(0);
inline constexpr std::uint64_t kRetryNanoseconds = 10'000'000;  // after the handler could not unwind now
inline constexpr std::size_t kMaxChain = 64;                   // the longest wait chain followed

// The one lock of the graph and of every Mutex's owner and wait queue: the graph is then read
// consistently on any number of CPUs (no snapshot of edges that changed under the walk).
SpinLock& graph_lock();

// With graph_lock held, for Mutex: the current task starts / ends waiting for `mutex`.
void begin_wait(Task& self, Mutex& mutex, std::uint64_t caller, bool interruptible);
void end_wait(Task& self);
// With graph_lock held, before `self` blocks: if its wait closes a cycle, picks the victim (self
// first, else the first interruptible task along the cycle) and marks its wait ended
// (LockWaitEnd::Cycle); a victim other than self is taken out of its queue and woken.
void break_cycle(Task& self);
// With graph_lock held: ends `task`'s wait from outside (it must be waiting): marks it, takes it
// out of its mutex's queue, wakes it.
void end_from_outside(Task& task, LockWaitEnd why);

// What the fault handler (recovery/) is given: the task whose wait ended, on its own stack.
struct Fault {
    const Mutex* mutex;
    LockWaitEnd why;
    std::uint64_t caller;       // the code that asked for the lock
    std::uint64_t waited_ticks; // TSC ticks since the wait began
};
enum class Refusal : std::uint8_t {
    Permanent,  // never unwindable here (not a cell's code): the wait goes on, never ended again
    Transient,  // not now (e.g. a cell load midway): tried again after kRetryNanoseconds
};
// Called on the waiting task with no lock held and interrupts on; unwinds the task (does not
// return) or says why not.
using Handler = Refusal (*)(Task& task, const Fault& fault);
void set_handler(Handler handler);
// For Mutex::lock, after it left the wait and released graph_lock: hands the task to the handler.
Refusal raise(Task& self, const Fault& fault);

// With graph_lock held, after a Transient refusal: the deadline tries again in kRetryNanoseconds,
// for the same reason.
void retry_later(Task& self, LockWaitEnd why);

// From the timer tick (interrupts off, no scheduler lock held): ends the interruptible waits past
// their deadline (LockWaitEnd::Timeout, or the reason a refused attempt is retried for).
void check_deadlines(std::uint64_t now_tsc);
// The earliest deadline of a waiting task, for the timer (~0 if none; may be early, never late).
std::uint64_t next_deadline();

// How long an interruptible wait may last (0 restores kDefaultBudgetNanoseconds; kNoBudget: no
// deadline, only cycles end waits). Applies to waits that begin after the call.
void set_budget(std::uint64_t nanoseconds);
std::uint64_t budget();

struct Statistics {
    std::uint64_t waits;     // lock() calls that had to wait
    std::uint64_t cycles;    // cycles found (whether or not a victim could be chosen)
    std::uint64_t timeouts;  // waits ended at their deadline
    std::uint64_t raised;    // waits handed to the fault handler
    std::uint64_t refused;   // ... that it could not unwind
};
Statistics statistics();

} // namespace delos::task::lock_waits
