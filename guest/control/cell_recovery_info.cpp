// cell_recovery_info.cpp: recovery policy and record into CellInfo.
#include "control/cell_recovery_info.h"

#include "recovery_policy/cell_records.h"

namespace delos::control {

void describe_recovery(StringView cell, channel::CellInfo& info)
{
    recovery::CellRecoveryStatus status = recovery::cell_recovery_status(cell);
    info.recovery_policy.window_ms = status.policy.window_ns / 1'000'000;
    info.recovery_policy.reload_after_faults = status.policy.reload_after_faults;
    info.recovery_policy.max_reloads = status.policy.max_reloads;
    info.recovery_policy.rollback_window_ms = status.policy.rollback_window_ns / 1'000'000;
    info.recovery_policy.max_restarts = status.policy.max_restarts;
    info.recovery_policy.custom = status.custom_policy;
    info.recovery.faults = status.history.faults;
    info.recovery.task_restarts = status.task_restarts;
    info.recovery.reloads = status.history.reloads;
    info.recovery.rollbacks = status.history.rollbacks;
    info.recovery.quarantined = status.history.quarantined;
    if (status.history.quarantined && info.state == channel::CellState::Loaded)
        info.state = channel::CellState::Faulted;
}

} // namespace delos::control
