// recovery_decision.h: the recovery policy as pure functions (docs/fault-recovery.md): given a
// cell's policy and its recent faults, what one more fault leads to (nothing for the cell,
// reload it, roll it back to its previous generation, quarantine it), and whether a faulted
// restartable task is spawned again. Freestanding and host-tested; the kernel's recovery service
// (guest/recovery_policy/) keeps the histories and carries the actions out.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::recovery {

// Per cell, with defaults; changed with set_cell_policy (kernel) or `delos-chan policy`.
struct RecoveryPolicy {
    std::uint64_t window_ns = 1'000'000'000;           // faults this close together count as "again"
    std::uint32_t reload_after_faults = 2;             // this many faults within the window reload the cell
    std::uint32_t max_reloads = 3;                     // reloads in a row; the next one quarantines instead
    std::uint64_t rollback_window_ns = 10'000'000'000; // a fault this soon after a swap rolls the swap back (0: never)
    std::uint32_t max_restarts = 8;                    // restarts of one restartable task within the window
};

// Refuses a policy that could not work (no window, a reload threshold of 0, ...).
ErrorOr<void> validate_policy(const RecoveryPolicy& policy);

enum class CellAction : std::uint8_t {
    None,        // the cell stays as it is (the faulted task alone is dealt with)
    Reload,      // replaced by a fresh copy of itself from its pristine object
    Rollback,    // swapped back to the generation a recent swap replaced
    Quarantine,  // its services stop and calls into it are refused
    Refused,     // already quarantined: nothing more to do for it
};
const char* cell_action_name(CellAction action);

// What the policy remembers of one cell.
struct CellFaultHistory {
    static constexpr std::size_t kRemembered = 16;
    std::uint64_t recent_ns[kRemembered] = {};  // the latest faults counted towards a reload, oldest first
    std::uint32_t recent = 0;
    std::uint64_t faults = 0;       // every fault blamed on the cell
    std::uint64_t reloads = 0;
    std::uint64_t rollbacks = 0;
    std::uint32_t reloads_in_a_row = 0;  // since the cell last went a quiet period without a reload
    std::uint64_t last_reload_ns = 0;
    // A reload was decided and has not taken effect yet (reload_done clears it; a reload that
    // failed or was dropped stops counting as pending after the window).
    bool reload_pending = false;
    std::uint64_t swapped_at_ns = 0;     // when a swap (not a reload or rollback) installed this generation; 0: none
    bool can_roll_back = false;          // the swap's previous generation is kept
    bool quarantined = false;
};

// A cell that has not been reloaded for this many windows starts counting reloads afresh.
inline constexpr std::uint64_t kQuietWindows = 10;

// Records one fault at `now_ns` and decides the cell's action, updating the history as if the
// action succeeded (the caller reports a failure separately).
struct CellDecision {
    CellAction action = CellAction::None;
    std::uint32_t faults_in_window = 0;  // this one included
    std::uint32_t reload_number = 0;     // for Reload: 1 for the first in a row
    bool reload_pending = false;         // None because a reload of the cell is under way
};
// A fault while a reload of the cell is pending comes from the copy being replaced (its tasks run
// it until the new copy is linked and their calls re-pointed: a restarted task can fault in it
// again at once): the same damage, already dealt with, so it neither reloads the cell again nor
// brings a quarantine closer (it is counted in `faults`).
CellDecision decide_for_cell(CellFaultHistory& history, const RecoveryPolicy& policy, std::uint64_t now_ns);
// The cell was reloaded (or swapped, rolled back): faults from now on are the new copy's.
void reload_done(CellFaultHistory& history);

// What the policy remembers of one restartable task.
struct RestartHistory {
    static constexpr std::size_t kRemembered = 32;
    std::uint64_t recent_ns[kRemembered] = {};
    std::uint32_t recent = 0;
    std::uint64_t restarts = 0;
    bool gave_up = false;
};

// Whether a restartable task that faulted at `now_ns` is spawned again: yes, unless it has been
// restarted max_restarts times within the window already (then it stays ended: restarting a
// task that faults at once would only burn the CPU).
bool decide_restart(RestartHistory& history, const RecoveryPolicy& policy, std::uint64_t now_ns);

} // namespace delos::recovery
