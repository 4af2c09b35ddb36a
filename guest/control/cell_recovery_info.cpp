// cell_recovery_info.cpp: recovery policy and record into CellInfo.
#include "control/cell_recovery_info.h"

#include "recovery_policy/cell_records.h"

namespace delos::control {

namespace {

channel::RecoveryPolicyInfo info_of(const recovery::RecoveryPolicy& policy, bool custom)
{
    channel::RecoveryPolicyInfo info;
    info.window_ms = policy.window_ns / 1'000'000;
    info.reload_after_faults = policy.reload_after_faults;
    info.max_reloads = policy.max_reloads;
    info.rollback_window_ms = policy.rollback_window_ns / 1'000'000;
    info.max_restarts = policy.max_restarts;
    info.custom = custom;
    return info;
}

} // namespace

ErrorOr<channel::RecoveryPolicyInfo> set_recovery_policy_from(StringView cell, const channel::RecoveryPolicyInfo& info)
{
    // Milliseconds from the host: bounded so that the nanoseconds cannot overflow.
    constexpr std::uint64_t kMaxMs = 1'000'000'000'000ull;
    if (info.window_ms > kMaxMs || info.rollback_window_ms > kMaxMs)
        return Error::make(ErrorCode::OutOfRange, "a recovery window is too long", kMaxMs);
    recovery::RecoveryPolicy policy;
    policy.window_ns = info.window_ms * 1'000'000;
    policy.reload_after_faults = info.reload_after_faults;
    policy.max_reloads = info.max_reloads;
    policy.rollback_window_ns = info.rollback_window_ms * 1'000'000;
    policy.max_restarts = info.max_restarts;
    if (cell.empty()) {
        TRY(recovery::set_default_policy(policy));
        return info_of(recovery::default_policy(), false);
    }
    TRY(recovery::set_cell_policy(cell, policy));
    recovery::CellRecoveryStatus status = recovery::cell_recovery_status(cell);
    return info_of(status.policy, status.custom_policy);
}

void describe_recovery(StringView cell, channel::CellInfo& info)
{
    recovery::CellRecoveryStatus status = recovery::cell_recovery_status(cell);
    info.recovery_policy = info_of(status.policy, status.custom_policy);
    info.recovery.faults = status.history.faults;
    info.recovery.task_restarts = status.task_restarts;
    info.recovery.reloads = status.history.reloads;
    info.recovery.rollbacks = status.history.rollbacks;
    info.recovery.quarantined = status.history.quarantined;
    if (status.history.quarantined && info.state == channel::CellState::Loaded)
        info.state = channel::CellState::Faulted;
}

} // namespace delos::control
