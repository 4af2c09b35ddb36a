// fault_containment.h: a CPU exception in a task is contained to that task: its stack is unwound
// with the compiler's exception tables (runtime/unwinder.h), running the destructors of every
// live local from the faulting frame up to its entry trampoline, and the task ends Faulted. What
// cannot be contained (interrupt context or a spin lock held, the boot or idle task, a fault
// while unwinding, a frame without unwind information or a noexcept frame) stays fatal.
#pragma once

#include <cstdint>

#include "arch/x86_64/interrupt_frame.h"

namespace delos::task {

class Task;

// The exception hook: true if the fault was contained (the frame now resumes in the unwinder on
// the task's stack), false to leave it to the fatal report.
bool contain_fault(arch::InterruptFrame& frame);

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
};
FaultContainmentStatistics fault_containment_statistics();

} // namespace delos::task
