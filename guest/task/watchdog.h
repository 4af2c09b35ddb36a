// watchdog.h: how long a task may run without waiting before it counts as stuck (an infinite
// loop, a spin on a lock that never comes free). The scheduler's timer tick measures each task's
// CPU time since it last blocked, slept or ended a wait; past its budget, the tick hands the
// interrupted task to the watchdog handler (fault containment, recovery/), which unwinds it from
// there if it was interrupted in a cell's code with interrupts on, as a WATCHDOG fault; otherwise
// the next tick tries again (docs/watchdog-and-stack-overflow.md).
#pragma once

#include <cstdint>

#include "arch/x86_64/interrupt_frame.h"
#include "task/task.h"

namespace delos::task::watchdog {

// Tasks of a cell get this budget unless their cell or their spawn says otherwise; the kernel's
// own tasks (cell 0) have none unless their spawn names one.
inline constexpr std::uint64_t kDefaultCellBudgetNanoseconds = 2'000'000'000;
inline constexpr std::uint64_t kNoBudget = ~std::uint64_t(0);  // a cell or task never watched
inline constexpr std::uint64_t kRetryNanoseconds = 1'000'000;   // after a tick that could not unwind

// Per-cell budgets (a fixed table; kNoBudget turns a cell's watching off, 0 restores the default).
ErrorOr<void> set_cell_budget(CellId cell, std::uint64_t nanoseconds);
void set_default_budget(std::uint64_t nanoseconds);  // 0 restores kDefaultCellBudgetNanoseconds
// The budget a new task of `cell` gets (kNoBudget: not watched).
std::uint64_t budget_for_cell(CellId cell);

// Called by the timer tick with the scheduler's lock released and interrupts off, for the
// running task that is over its budget; true if it now unwinds (the frame was rewritten).
using Handler = bool (*)(arch::InterruptFrame& frame, Task& task);
void set_handler(Handler handler);
Handler handler();

struct Statistics {
    std::uint64_t expired;    // ticks that found a task over its budget
    std::uint64_t unwound;    // tasks the handler unwound
};
Statistics statistics();
void count_expiry(bool unwound);

} // namespace delos::task::watchdog
