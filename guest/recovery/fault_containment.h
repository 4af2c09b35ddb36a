// fault_containment.h: a CPU exception in a task is contained to that task: its stack is unwound
// with the compiler's exception tables (runtime/unwinder.h), running the destructors of every
// live local from the faulting frame up to its entry trampoline, and the task ends Faulted. A
// cell's code gets more: a fault with interrupts masked but no spin lock held is unwound with them
// unmasked; a fault in a landing pad of a cell's frame abandons that pad and the unwind goes on at
// the frame's caller; a stack that cannot be unwound at all ends the task without its cleanups.
// A noexcept frame is passed through without cleanups (docs/unwinding.md). What cannot be
// contained (interrupt context, a spin lock held, the kernel's masked code, the boot or idle
// task, a fault while unwinding a kernel frame) stays fatal.
#pragma once

#include <cstdint>

#include "arch/x86_64/interrupt_frame.h"
#include "task/lock_waits.h"
#include "task/task.h"

namespace delos::task {

// TaskFault::vector values beyond the CPU's 0..31 for faults that are not a CPU exception.
inline constexpr std::uint64_t kWatchdogVector = 0x100;       // over its watchdog budget (task/watchdog.h)
inline constexpr std::uint64_t kStackOverflowVector = 0x101;  // a prologue found the stack exhausted
// A cell's lock wait ended in a deadlock (task/lock_waits.h); the fault's error code is the
// LockWaitEnd (1: it closed a cycle, 2: past the lock-wait budget), its address the lock's.
inline constexpr std::uint64_t kDeadlockVector = 0x102;
// A spin lock stayed taken past its budget while this CPU spun on it with interrupts masked
// (sync/spin_lock.h); the fault's address is the lock's, its rip where the lock was asked for.
inline constexpr std::uint64_t kSpinLockStuckVector = 0x103;

class Task;

// The exception hook: true if the fault was contained (the frame now resumes in the unwinder on
// the task's stack), false to leave it to the fatal report.
// A #UD at delos_stack_overflow_trap (__morestack, arch/x86_64/stack_limit.h) is a stack
// overflow: contained as kStackOverflowVector, unwound from the caller of the function that
// found no room.
bool contain_fault(arch::InterruptFrame& frame);

// The watchdog handler (task/watchdog.h): unwinds `task`, interrupted by the timer tick in `frame`,
// as a kWatchdogVector fault if it was in a cell's code with interrupts on and its stack can be
// unwound from there; false (and nothing printed) otherwise, and the tick tries again later.
bool contain_watchdog_expiry(arch::InterruptFrame& frame, Task& task);

// The lock-wait handler (task/lock_waits.h), on the waiting task whose wait was ended, interrupts
// on, no lock held: unwinds it from its wait point (the call into the lock) as a kDeadlockVector
// fault and does not return; or returns why not (the lock was not asked for by a cell's code:
// Permanent; a cell load or unload midway, so the code cannot be named now: Transient).
lock_waits::Refusal contain_lock_wait(Task& task, const lock_waits::Fault& fault);

struct FaultLogEntry;
// Fault recovery's policy (guest/recovery_policy/) decides what to do about each contained fault
// and writes it into the entry before it is logged. Called from the exception hook with
// interrupts masked, on the faulting task's stack: it must not block or allocate.
using FaultRecoveryDecider = void (*)(Task& task, FaultLogEntry& entry);
void set_fault_recovery_decider(FaultRecoveryDecider decider);

// Whether each contained fault's full report (registers, backtrace) is printed on the console
// (default: yes). The fault log and the channel's FaultReport carry it either way; a serial
// console costs a VM exit per byte, so delos-bench-faults measures recovery with it on and off.
void set_fault_console_reports(bool enabled);
bool fault_console_reports();

struct FaultContainmentStatistics {
    std::uint64_t contained;  // faults unwound (also the last sequence number handed out)
    std::uint64_t refused;    // faults in tasks that could not be contained (then fatal)
    std::uint64_t masked;     // of the contained: taken with interrupts masked by a cell's code, no spin lock held
    std::uint64_t abandoned_pads;        // faults while unwinding: the landing pad's frame abandoned
    std::uint64_t ended_without_unwind;  // stacks that could not be unwound at all: the task just ended
};
FaultContainmentStatistics fault_containment_statistics();

} // namespace delos::task
