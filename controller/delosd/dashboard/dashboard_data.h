// dashboard_data.h: what the dashboard API reads, as an interface: each host's last snapshot
// (its VMs, their stats and cells, reachable or not), the fleet's fault bucket index, one full
// fault report on demand, and the rollouts in progress. Fleet (the real one) implements it over
// gRPC; the API's unit tests implement it with fixed data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"
#include "fault_buckets.h"

namespace delos::dashboard {

struct HostSnapshot {
    std::string name;
    std::string address;                  // as configured (unix:PATH, tcp:HOST:PORT); "local" for this delosd
    bool local = false;
    bool reachable = false;
    std::string error;                    // why not, when not
    std::int64_t polled_unix_ms = 0;      // when this snapshot was taken (0: never)
    std::int64_t last_reachable_unix_ms = 0;
    std::string version;                  // delosd's
    std::int64_t uptime_ms = 0;           // delosd's
    std::uint64_t faults_stored = 0;
    std::vector<v1::Vm> vms;
    std::map<std::string, v1::VmStats> stats;                   // by VM (running ones)
    std::map<std::string, std::vector<v1::CellInfo>> cells;     // by VM (running ones)
    // When this delosd saw each VM's current boot begin (its started, connected or new-boot
    // event), by VM: host time, so a guest clock that runs wrong under emulation cannot skew it.
    std::map<std::string, std::int64_t> boot_started_unix_ms;
    std::string fault_watch_error;        // the fault stream's last error, empty while it flows
    // The rollouts this host coordinates (newest first), as its ListRollouts answered.
    std::vector<v1::Rollout> rollouts;
    bool serves_rollouts = false;         // it answered ListRollouts (not UNIMPLEMENTED or unreachable)
    std::string rollouts_error;
};

// One rollout as the dashboard shows it; filled from the hosts' rollout RPCs once delosd has
// them (see RolloutsView::available).
struct RolloutRow {
    std::string host;          // the coordinator that reported it
    std::string id;
    std::string cell;
    std::string version;
    std::string state;         // e.g. ROLLOUT_STATE_BAKING
    std::string stage;         // e.g. "canary 1/1", "batch 2/3"
    std::uint32_t targets = 0;
    std::uint32_t swapped = 0;
    std::uint32_t rolled_back = 0;
    std::uint32_t failed = 0;
    std::int64_t started_unix_ms = 0;
    std::int64_t updated_unix_ms = 0;
    std::string message;       // the last thing that happened, or why it stopped
    std::uint64_t faults = 0;  // faults of the new version seen
    bool active = false;       // not in a final state
};

struct RolloutsView {
    bool available = false;    // false: no host of the fleet serves rollouts (yet)
    std::string note;          // why not, or per-host errors
    std::vector<RolloutRow> rollouts;
};

struct FaultLookup {
    std::optional<v1::FaultRecord> record;
    std::string error;         // when the host could not be asked (record empty too)
};

class DashboardData {
public:
    virtual ~DashboardData() = default;
    virtual std::vector<HostSnapshot> hosts() = 0;           // this delosd first, then the fleet file's order
    virtual const FaultBucketIndex& faults() = 0;
    virtual FaultLookup fault(const std::string& host, std::uint64_t sequence) = 0;
    virtual RolloutsView rollouts() = 0;
    virtual std::uint64_t changes() = 0;                     // grows on every change the page should show
    virtual std::string local_name() = 0;
};

} // namespace delos::dashboard
