// workloads.h: the fault-campaign workloads. Each runs its clients against its target cell under
// a Supervisor, checks every answer and the end state itself, and returns what it saw.
#pragma once

#include <cstdint>

#include "fc_driver/supervisor.h"

namespace delos::fault_workload {

struct WorkloadOutcome {
    bool complete = true;     // every client finished every request
    bool correct = true;      // every end result equals the reference
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
    const char* problem = ""; // the first thing that went wrong, for the verdict line
};

// The clients' side of one request: retries, and what a client learned.
struct ClientTally {
    std::uint32_t complete = 1;
    std::uint32_t correct = 1;
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
    const char* problem = "";
};

inline constexpr int kMaxAttempts = 40;

// One client's tally into the workload's outcome: the first problem seen is the one reported.
inline void merge(WorkloadOutcome& outcome, const ClientTally& tally)
{
    outcome.requests += tally.requests;
    outcome.retries += tally.retries;
    if (!tally.complete && outcome.complete) {
        outcome.complete = false;
        if (!*outcome.problem)
            outcome.problem = tally.problem;
    }
    if (!tally.correct && outcome.correct) {
        outcome.correct = false;
        outcome.problem = tally.problem;
    }
}

WorkloadOutcome run_kv_workload(Supervisor& supervisor, TargetCell& target);
WorkloadOutcome run_session_workload(Supervisor& supervisor, TargetCell& target, bool stateful);
WorkloadOutcome run_pipeline_workload(Supervisor& supervisor, TargetCell& target);
WorkloadOutcome run_counter_workload(Supervisor& supervisor, TargetCell& target);
WorkloadOutcome run_pages_workload(Supervisor& supervisor, TargetCell& target);

} // namespace delos::fault_workload
