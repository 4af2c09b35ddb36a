// host_feed.h: what the dashboard knows of one delosd, kept fresh over its gRPC API (this
// delosd's own through an in-process channel, the fleet's others over mutual TLS): a poll of
// its VMs, their stats and cells every interval, and a resumable WatchFaults stream that feeds
// the fleet's bucket index. A host that does not answer is shown as unreachable with the reason
// and retried; it never delays the other hosts (each feed has its own threads).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dashboard_data.h"
#include "delos/v1/controller.grpc.pb.h"
#include "fault_buckets.h"

namespace delos::dashboard {

struct FeedSettings {
    std::chrono::milliseconds poll_interval{1500};
    std::chrono::milliseconds call_timeout{3000};
};

class HostFeed {
public:
    // `channel` may be null when it could not be made (then `channel_error` says why and the
    // host stays unreachable). `changed` is called whenever the snapshot or the index changes.
    HostFeed(std::string name, std::string address, bool local, std::shared_ptr<grpc::Channel> channel,
             std::string channel_error, FaultBucketIndex& index, std::function<void()> changed, FeedSettings settings);
    ~HostFeed();
    HostFeed(const HostFeed&) = delete;
    HostFeed& operator=(const HostFeed&) = delete;

    const std::string& name() const { return m_name; }
    HostSnapshot snapshot() const;
    FaultLookup fault(std::uint64_t sequence);
    // The stub for other read-only calls (null when there is no channel).
    v1::Controller::Stub* stub() { return m_stub.get(); }
    std::chrono::milliseconds call_timeout() const { return m_settings.call_timeout; }

private:
    void poll_loop();
    void watch_loop();
    void poll_once();
    // When `vm`'s boot `boot_id` began, from its stored events (0 if none says).
    std::int64_t boot_started(const std::string& vm, std::uint64_t boot_id);
    bool wait(std::chrono::milliseconds period);  // false when stopping

    std::string m_name;
    std::string m_address;
    bool m_local;
    std::shared_ptr<grpc::Channel> m_channel;
    std::unique_ptr<v1::Controller::Stub> m_stub;
    std::string m_channel_error;
    FaultBucketIndex& m_index;
    std::function<void()> m_changed;
    FeedSettings m_settings;

    mutable std::mutex m_mutex;
    HostSnapshot m_snapshot;
    std::string m_digest;  // of what the page shows, to tell a change from a re-poll
    std::map<std::string, std::pair<std::uint64_t, std::int64_t>> m_boot_started;  // vm -> (boot id, unix ms); poller only

    std::mutex m_stop_mutex;
    std::condition_variable m_stop_signal;
    bool m_stopping = false;
    grpc::ClientContext* m_watch_context = nullptr;  // under m_stop_mutex, cancelled on stop
    std::thread m_poller;
    std::thread m_watcher;
};

} // namespace delos::dashboard
