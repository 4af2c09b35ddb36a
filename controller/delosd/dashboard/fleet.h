// fleet.h: the dashboard's view of a fleet: this delosd (through an in-process gRPC channel, so
// the page shows exactly what the gRPC API serves) and the other delosds of a fleet file (over
// mutual TLS), one HostFeed each, sharing one fault bucket index. Implements DashboardData.
//
// The fleet is delosd's --fleet file (controller/common/fleet_file.h, docs/fleet.md), the one
// delosctl --fleet and the rollout coordinator read; the host named like this delosd is skipped.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dashboard_data.h"
#include "fleet_file.h"
#include "host_feed.h"

namespace delos::dashboard {

// One rollout record as the dashboard's row (`host`: the host that reported it).
RolloutRow rollout_row(const std::string& host, const v1::Rollout& rollout);

class Fleet final : public DashboardData {
public:
    // `fleet`: a checked fleet file (load_fleet_file), or an empty one for this delosd alone.
    Fleet(std::string local_name, std::shared_ptr<grpc::Channel> local_channel, const v1::FleetFile& fleet,
          FeedSettings settings = {});
    ~Fleet() override;

    std::vector<HostSnapshot> hosts() override;
    const FaultBucketIndex& faults() override { return m_index; }
    FaultLookup fault(const std::string& host, std::uint64_t sequence) override;
    RolloutsView rollouts() override;
    std::uint64_t changes() override;
    std::string local_name() override { return m_local_name; }

    // Blocks until changes() passes `seen` or `limit` passes; returns changes().
    std::uint64_t wait_for_change(std::uint64_t seen, std::chrono::milliseconds limit);

private:
    void changed();

    std::string m_local_name;
    FaultBucketIndex m_index;
    std::mutex m_change_mutex;
    std::condition_variable m_change_signal;
    std::uint64_t m_changes = 0;
    std::vector<std::unique_ptr<HostFeed>> m_feeds;  // last: they call changed() until destroyed
};

} // namespace delos::dashboard
