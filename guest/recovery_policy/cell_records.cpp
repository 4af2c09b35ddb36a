// cell_records.cpp: the per-cell policies and fault histories, in a fixed table under a spin lock.
#include "recovery_policy/cell_records.h"

#include "sync/spin_lock.h"

namespace delos::recovery {

namespace {

struct Record {
    bool used = false;
    char name[kCellNameLength] = {};
    bool custom_policy = false;
    RecoveryPolicy policy;
    CellFaultHistory history;
    std::uint64_t task_restarts = 0;
    std::uint64_t last_use = 0;  // for reuse when the table is full
};

SpinLock g_lock;
Record g_records[kMaxCellRecords];
RecoveryPolicy g_default;
std::uint64_t g_uses = 0;

bool same(const char* stored, StringView name)
{
    std::size_t i = 0;
    for (; i < name.size(); ++i) {
        if (i + 1 >= kCellNameLength || stored[i] != name[i])
            return false;
    }
    return stored[i] == '\0';
}

Record* find(StringView name)
{
    for (Record& record : g_records) {
        if (record.used && same(record.name, name))
            return &record;
    }
    return nullptr;
}

// Under g_lock. A name too long to store gets no record (such a cell is judged by the default
// policy afresh each time, and never reloaded by policy).
Record* find_or_add(StringView name)
{
    if (name.empty() || name.size() >= kCellNameLength)
        return nullptr;
    Record* record = find(name);
    if (!record) {
        Record* oldest = &g_records[0];
        for (Record& candidate : g_records) {
            if (!candidate.used) {
                oldest = &candidate;
                break;
            }
            if (candidate.last_use < oldest->last_use)
                oldest = &candidate;
        }
        *oldest = Record{};
        oldest->used = true;
        for (std::size_t i = 0; i < name.size(); ++i)
            oldest->name[i] = name[i];
        oldest->policy = g_default;
        record = oldest;
    }
    record->last_use = ++g_uses;
    return record;
}

} // namespace

RecoveryPolicy default_policy()
{
    SpinLockGuard guard(g_lock);
    return g_default;
}

ErrorOr<void> set_default_policy(const RecoveryPolicy& policy)
{
    TRY(validate_policy(policy));
    SpinLockGuard guard(g_lock);
    g_default = policy;
    for (Record& record : g_records) {
        if (record.used && !record.custom_policy)
            record.policy = policy;
    }
    return {};
}

ErrorOr<void> set_cell_policy(StringView cell, const RecoveryPolicy& policy)
{
    TRY(validate_policy(policy));
    if (cell.empty() || cell.size() >= kCellNameLength)
        return Error::make(ErrorCode::InvalidArgument, "a cell name of 1..39 characters is needed", cell.size());
    SpinLockGuard guard(g_lock);
    Record* record = find_or_add(cell);
    record->policy = policy;
    record->custom_policy = true;
    return {};
}

void forget_cell(StringView cell)
{
    SpinLockGuard guard(g_lock);
    if (Record* record = find(cell))
        *record = Record{};
}

CellRecoveryStatus cell_recovery_status(StringView cell)
{
    CellRecoveryStatus status;
    SpinLockGuard guard(g_lock);
    status.policy = g_default;
    if (Record* record = find(cell)) {
        status.known = true;
        status.policy = record->policy;
        status.custom_policy = record->custom_policy;
        status.history = record->history;
        status.task_restarts = record->task_restarts;
    }
    return status;
}

CellDecision record_cell_fault(StringView cell, std::uint64_t now_ns, RecoveryPolicy& policy_used, std::uint64_t& faults)
{
    SpinLockGuard guard(g_lock);
    Record* record = find_or_add(cell);
    if (!record) {
        policy_used = g_default;
        faults = 1;
        return CellDecision{CellAction::None, 1, 0};
    }
    policy_used = record->policy;
    CellDecision decision = decide_for_cell(record->history, record->policy, now_ns);
    faults = record->history.faults;
    return decision;
}

RecoveryPolicy policy_for(StringView cell)
{
    SpinLockGuard guard(g_lock);
    Record* record = find(cell);
    return record ? record->policy : g_default;
}

void note_task_restart(StringView cell)
{
    SpinLockGuard guard(g_lock);
    if (Record* record = find_or_add(cell))
        ++record->task_restarts;
}

void note_cell_change(StringView cell, loader::CellChange change, std::uint64_t now_ns, bool previous_kept)
{
    SpinLockGuard guard(g_lock);
    Record* record = change == loader::CellChange::Swap ? find_or_add(cell) : find(cell);
    if (!record)
        return;
    CellFaultHistory& history = record->history;
    switch (change) {
    case loader::CellChange::Swap:
        reload_done(history);
        history.swapped_at_ns = now_ns;
        history.can_roll_back = previous_kept;
        history.quarantined = false;
        history.recent = 0;
        break;
    case loader::CellChange::Rollback:
        reload_done(history);
        history.swapped_at_ns = 0;
        history.can_roll_back = false;
        history.quarantined = false;
        history.recent = 0;
        break;
    case loader::CellChange::Reload:
        history.quarantined = false;  // a reload by hand lifts a quarantine too
        reload_done(history);
        break;
    case loader::CellChange::Quarantine:
        history.quarantined = true;
        break;
    case loader::CellChange::Unload:
        // A later load of the name starts afresh; a policy set for it stays.
        history = CellFaultHistory{};
        record->task_restarts = 0;
        break;
    }
}

} // namespace delos::recovery
