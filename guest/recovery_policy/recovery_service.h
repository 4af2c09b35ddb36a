// recovery_service.h: fault recovery's policy in the running kernel (docs/fault-recovery.md).
// The exception hook decides, for each contained fault, what happens (restart the task, reload
// the cell, roll a recent swap back, quarantine the cell) and writes it into the fault report;
// the recovery service task carries it out once the faulted task has ended, through the cell
// manager's transactions (its sleeping lock and the swap), never by masking interrupts itself.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::recovery {

// Installs the decider and the cell manager's change hooks and starts the service task.
ErrorOr<void> start_recovery_service();

struct RecoveryStatistics {
    std::uint64_t decided = 0;          // contained faults the policy saw
    std::uint64_t restarts = 0;         // restartable tasks spawned again
    std::uint64_t reloads = 0;          // cells reloaded
    std::uint64_t rollbacks = 0;        // cells rolled back
    std::uint64_t quarantines = 0;      // cells quarantined
    std::uint64_t refused_calls = 0;    // calls into quarantined cells ended
    std::uint64_t failures = 0;         // actions that could not be carried out (console says why)
    std::uint64_t completed = 0;        // notices the service has finished with
};
RecoveryStatistics recovery_statistics();

} // namespace delos::recovery
