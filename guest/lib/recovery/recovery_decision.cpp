// recovery_decision.cpp: the restart / reload / rollback / quarantine decisions.
#include "lib/recovery/recovery_decision.h"

namespace delos::recovery {

namespace {

// Drops the remembered times older than the window before `now_ns` and appends `now_ns`
// (the oldest goes when the list is full); returns how many remain.
template <std::size_t N>
std::uint32_t remember(std::uint64_t (&times)[N], std::uint32_t& count, std::uint64_t window_ns, std::uint64_t now_ns)
{
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (now_ns - times[i] < window_ns)
            times[kept++] = times[i];
    }
    if (kept == N) {
        for (std::uint32_t i = 1; i < N; ++i)
            times[i - 1] = times[i];
        --kept;
    }
    times[kept++] = now_ns;
    count = kept;
    return kept;
}

} // namespace

ErrorOr<void> validate_policy(const RecoveryPolicy& policy)
{
    if (policy.window_ns == 0)
        return Error::make(ErrorCode::InvalidArgument, "the fault window must be longer than 0");
    if (policy.reload_after_faults == 0 || policy.reload_after_faults > CellFaultHistory::kRemembered)
        return Error::make(ErrorCode::InvalidArgument, "reload_after_faults must be 1..16", policy.reload_after_faults);
    if (policy.max_restarts > RestartHistory::kRemembered)
        return Error::make(ErrorCode::InvalidArgument, "max_restarts must be at most 32", policy.max_restarts);
    return {};
}

const char* cell_action_name(CellAction action)
{
    switch (action) {
    case CellAction::None: return "none";
    case CellAction::Reload: return "reload";
    case CellAction::Rollback: return "rollback";
    case CellAction::Quarantine: return "quarantine";
    case CellAction::Refused: return "refused";
    }
    return "unknown";
}

CellDecision decide_for_cell(CellFaultHistory& history, const RecoveryPolicy& policy, std::uint64_t now_ns)
{
    CellDecision decision;
    ++history.faults;
    if (history.quarantined) {
        decision.action = CellAction::Refused;
        return decision;
    }
    if (history.reload_pending && now_ns - history.last_reload_ns < policy.window_ns) {
        decision.reload_pending = true;  // the old copy's fault: its reload is on the way
        return decision;
    }
    history.reload_pending = false;
    // A swap that is followed by a fault so soon is the likeliest culprit: undo it first. The
    // swap's time is read on the CPU that committed it, the fault's on the faulting CPU: with
    // several CPUs (TSCs a little apart) a first call right after the commit can read an earlier
    // time. That is "at once", not 584 years later (the unsigned difference would wrap).
    std::uint64_t since_swap = now_ns >= history.swapped_at_ns ? now_ns - history.swapped_at_ns : 0;
    if (history.can_roll_back && policy.rollback_window_ns > 0 && history.swapped_at_ns != 0
        && since_swap < policy.rollback_window_ns) {
        decision.action = CellAction::Rollback;
        decision.faults_in_window = 1;
        ++history.rollbacks;
        history.swapped_at_ns = 0;
        history.can_roll_back = false;
        history.recent = 0;
        return decision;
    }
    decision.faults_in_window = remember(history.recent_ns, history.recent, policy.window_ns, now_ns);
    if (decision.faults_in_window < policy.reload_after_faults)
        return decision;
    if (history.reloads_in_a_row > 0 && now_ns - history.last_reload_ns >= kQuietWindows * policy.window_ns)
        history.reloads_in_a_row = 0;
    history.recent = 0;
    if (history.reloads_in_a_row >= policy.max_reloads) {
        decision.action = CellAction::Quarantine;
        history.quarantined = true;
        return decision;
    }
    decision.action = CellAction::Reload;
    decision.reload_number = ++history.reloads_in_a_row;
    ++history.reloads;
    history.last_reload_ns = now_ns;
    history.reload_pending = true;
    return decision;
}

void reload_done(CellFaultHistory& history) { history.reload_pending = false; }

bool decide_restart(RestartHistory& history, const RecoveryPolicy& policy, std::uint64_t now_ns)
{
    if (history.gave_up)
        return false;
    std::uint32_t within = remember(history.recent_ns, history.recent, policy.window_ns, now_ns);
    if (within > policy.max_restarts) {
        history.gave_up = true;
        return false;
    }
    ++history.restarts;
    return true;
}

} // namespace delos::recovery
