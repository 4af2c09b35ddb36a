// fleet.h: the dashboard's view of a fleet: this delosd (through an in-process gRPC channel, so
// the page shows exactly what the gRPC API serves) and the other delosds of a fleet file (over
// mutual TLS), one HostFeed each, sharing one fault bucket index. Implements DashboardData.
//
// The fleet file is the JSON that `delosctl --fleet` reads (docs/dashboard.md):
//   {"hosts": [{"name": "h1", "address": "tcp:10.0.0.1:7443", "tls_server_name": "h1"}, ...],
//    "tls": {"ca": "ca.pem", "cert": "client.pem", "key": "client.key"}}
// relative paths are relative to the file; the host named like this delosd is skipped.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "dashboard_data.h"
#include "host_feed.h"

namespace delos::dashboard {

struct FleetPeer {
    std::string name;
    std::string address;          // tcp:HOST:PORT or unix:PATH
    std::string tls_server_name;  // expected name in its certificate, if not HOST
    std::string tls_ca, tls_cert, tls_key;
};

class FleetFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads a fleet file. Throws FleetFileError naming what is wrong.
std::vector<FleetPeer> read_fleet_file(const std::string& path);
// The same from text; `base_dir` resolves relative paths.
std::vector<FleetPeer> parse_fleet_file(const std::string& json, const std::string& base_dir);

// One rollout record as the dashboard's row (`host`: the host that reported it).
RolloutRow rollout_row(const std::string& host, const v1::Rollout& rollout);

class Fleet final : public DashboardData {
public:
    Fleet(std::string local_name, std::shared_ptr<grpc::Channel> local_channel, const std::vector<FleetPeer>& peers,
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
