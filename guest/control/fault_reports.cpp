// fault_reports.cpp: fault log entries as FaultReport events.
#include "control/fault_reports.h"

#include "arch/x86_64/interrupts.h"
#include "lib/core/format.h"

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
    report.message = format("fault #{}: {} in task {} ({}); contained: the task was unwound and ended Faulted{}{}",
                            entry.sequence, arch::exception_name(entry.vector), entry.task, name_of(entry.task_name),
                            note.empty() ? "" : "; recovery: ", note);
    return report;
}

} // namespace delos::control
