// cell_records.h: fault recovery's book of cells, by name: each cell's policy (the default unless
// set) and its fault history (lib/recovery/recovery_decision.h). Under a spin lock, with fixed
// storage: the exception hook decides from it, so nothing here allocates or blocks.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "lib/recovery/recovery_decision.h"
#include "linker/kernel/cell_manager.h"

namespace delos::recovery {

inline constexpr std::size_t kMaxCellRecords = 64;
inline constexpr std::size_t kCellNameLength = 40;

struct CellRecoveryStatus {
    bool known = false;            // the cell has a record (it faulted, or its policy was set)
    RecoveryPolicy policy;         // the default unless set for this cell
    bool custom_policy = false;
    CellFaultHistory history;
    std::uint64_t task_restarts = 0;  // restartable tasks of (or blamed on) this cell spawned again
};

RecoveryPolicy default_policy();
ErrorOr<void> set_default_policy(const RecoveryPolicy& policy);
ErrorOr<void> set_cell_policy(StringView cell, const RecoveryPolicy& policy);
// Back to the default policy and an empty history (tests, and a cell unloaded for good).
void forget_cell(StringView cell);
CellRecoveryStatus cell_recovery_status(StringView cell);

// The exception hook's step: one fault blamed on `cell`, decided under the book's lock. Fills the
// policy used and the history's totals after the decision.
CellDecision record_cell_fault(StringView cell, std::uint64_t now_ns, RecoveryPolicy& policy_used, std::uint64_t& faults);
// The policy in force for `cell` (for restart decisions of its tasks).
RecoveryPolicy policy_for(StringView cell);
void note_task_restart(StringView cell);
// What the cell manager did to a cell (its change hooks): a swap opens the rollback window, a
// reload or swap lifts a quarantine, an unload forgets the history.
void note_cell_change(StringView cell, loader::CellChange change, std::uint64_t now_ns, bool previous_kept);

} // namespace delos::recovery
