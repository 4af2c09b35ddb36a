// fault_reports.cpp: fault log entries as FaultReport events.
#include "control/fault_reports.h"

#include "arch/x86_64/interrupts.h"
#include "lib/core/format.h"
#include "recovery/fault_containment.h"

namespace delos::control {

namespace {

StringView name_of(const char* text) { return StringView(text); }

// The proto's cell fields are empty for the kernel core.
String cell_of(const task::FaultLogCode& code)
{
    StringView owner = name_of(code.owner);
    return owner == "kernel" ? String() : String(owner);
}

} // namespace

channel::FaultKind fault_kind_of_vector(std::uint64_t vector)
{
    using channel::FaultKind;
    switch (vector) {
    case 0: return FaultKind::DivideError;
    case 3: return FaultKind::Breakpoint;
    case 6: return FaultKind::InvalidOpcode;
    case 8: return FaultKind::DoubleFault;
    case 12: return FaultKind::StackSegment;
    case 13: return FaultKind::GeneralProtection;
    case 14: return FaultKind::PageFault;
    case 17: return FaultKind::AlignmentCheck;
    case 18: return FaultKind::MachineCheck;
    case task::kWatchdogVector: return FaultKind::Watchdog;
    case task::kStackOverflowVector: return FaultKind::StackOverflow;
    case task::kDeadlockVector: return FaultKind::Deadlock;
    default: return FaultKind::OtherException;
    }
}

channel::RecoveryAction recovery_action_of(task::RecoveryTaken taken)
{
    using channel::RecoveryAction;
    switch (taken) {
    case task::RecoveryTaken::TaskKilled: return RecoveryAction::TaskKilled;
    case task::RecoveryTaken::TaskRestarted: return RecoveryAction::TaskRestarted;
    case task::RecoveryTaken::CellReloaded: return RecoveryAction::CellReloaded;
    case task::RecoveryTaken::CellQuarantined: return RecoveryAction::CellQuarantined;
    case task::RecoveryTaken::CellRolledBack: return RecoveryAction::CellRolledBack;
    }
    return RecoveryAction::TaskKilled;
}

channel::FaultReport fault_report_of(const task::FaultLogEntry& entry)
{
    channel::FaultReport report;
    report.task_id = entry.task;
    report.task_name = String(name_of(entry.task_name));
    report.cell_name = cell_of(entry.at);
    report.cell_version = String(name_of(entry.at.version));
    report.symbol = String(name_of(entry.at.symbol));
    report.symbol_offset = entry.at.symbol_offset;
    report.kind = fault_kind_of_vector(entry.vector);
    report.vector = static_cast<std::uint32_t>(entry.vector);
    report.error_code = entry.error_code;
    report.address = entry.fault_address;
    report.instruction_pointer = entry.instruction_pointer;
    for (std::uint32_t i = 0; i < entry.backtrace_frames && i < task::kFaultLogFrames; ++i) {
        const task::FaultLogCode& code = entry.backtrace[i];
        channel::BacktraceFrame frame;
        frame.address = code.address;
        frame.symbol = String(name_of(code.symbol));
        frame.offset = code.symbol_offset;
        frame.cell = cell_of(code);
        report.backtrace.append(static_cast<channel::BacktraceFrame&&>(frame));
    }
    report.action = recovery_action_of(entry.recovery);
    report.fault_count = entry.cell_faults;
    report.cell_generation = entry.cell_generation;
    StringView note = name_of(entry.recovery_note);
    StringView what = entry.vector == task::kWatchdogVector       ? StringView("watchdog: ran past its budget without waiting")
                      : entry.vector == task::kStackOverflowVector ? StringView("stack overflow")
                      : entry.vector == task::kDeadlockVector && entry.error_code == 1
                          ? StringView("deadlock: its lock wait closed a cycle of waits")
                      : entry.vector == task::kDeadlockVector ? StringView("deadlock: waited for a lock past the lock-wait budget")
                                                                   : StringView(arch::exception_name(entry.vector));
    report.message = format("fault #{}: {} in task {} ({}); contained: the task was unwound and ended Faulted{}{}",
                            entry.sequence, what, entry.task, name_of(entry.task_name), note.empty() ? "" : "; recovery: ", note);
    report.fault_sequence = entry.sequence;
    report.boot_id = String(StringView(task::boot_id()));
    report.cell_build_id = String(name_of(entry.place.build_id));
    report.section = String(name_of(entry.place.section));
    report.section_offset = entry.place.section_offset;
    const task::FaultRegisters& r = entry.registers;
    report.registers = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
                        r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags};
    return report;
}

channel::ListRecentFaultsReply list_recent_faults_reply()
{
    channel::ListRecentFaultsReply reply;
    reply.boot_id = String(StringView(task::boot_id()));
    reply.faults_recorded = task::faults_recorded();
    // One entry at a time (~2 KiB each, static: the caller serialises): walked by sequence, oldest first.
    static task::FaultLogEntry entry;
    std::uint64_t after = 0;
    while (reply.faults.size() < task::kFaultLogCapacity && task::copy_fault_after(after, entry)) {
        after = entry.sequence;
        reply.faults.append(fault_report_of(entry));
    }
    return reply;
}

} // namespace delos::control
