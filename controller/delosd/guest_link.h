// guest_link.h: delosd's connection to one guest's control socket. A thread of its own owns
// the ChannelClient: it connects (and re-connects with back-off after the guest restarts or
// drops the connection), opens the session, hands every event to a callback as it arrives,
// and runs the requests other threads queue. One link per VM, so a slow or stuck guest only
// delays its own requests.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "channel_client.h"

namespace delos::controller {

// The guest has no open session now (not started, restarting, unreachable).
class LinkUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The caller's deadline passed before the guest answered.
class LinkDeadline : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class GuestLink {
public:
    struct Handlers {
        std::function<void(const v1::HelloReply&)> connected;
        std::function<void(const std::string& reason)> disconnected;
        std::function<void(const v1::Event&)> event;  // on the link's thread, in arrival order
    };

    GuestLink(std::string vm, Handlers handlers, std::chrono::milliseconds reply_timeout);
    ~GuestLink();
    GuestLink(const GuestLink&) = delete;
    GuestLink& operator=(const GuestLink&) = delete;

    // Connects to `path` from now on (dropping a connection to another path); empty: stay
    // disconnected (the VM is stopped or between restarts).
    void set_socket(const std::string& path);
    bool connected() const { return m_connected; }

    // Runs `job` on the link's thread with the open session and returns when it is done,
    // rethrowing what it threw. Throws LinkUnavailable without a session, LinkDeadline when
    // `deadline` passes before the job started (it is then skipped; a job that has started is
    // waited for, each of its guest requests being bounded by the reply timeout).
    void run(std::function<void(chan::ChannelClient&)> job, std::chrono::steady_clock::time_point deadline);

private:
    struct Job {
        std::function<void(chan::ChannelClient&)> work;
        std::promise<void> done;
        // 0 queued, 1 running, 2 abandoned by its caller; a running job is always waited for,
        // since it works on the caller's objects.
        std::atomic<int> state{0};
    };

    void loop();
    void serve(chan::ChannelClient& client);
    void fail_queued(const std::string& reason);
    void wake();
    void wait_woken(std::chrono::milliseconds limit);

    std::string m_vm;
    Handlers m_handlers;
    std::chrono::milliseconds m_reply_timeout;

    mutable std::mutex m_mutex;
    std::string m_socket_path;          // guarded by m_mutex
    std::uint64_t m_socket_generation = 0;
    std::deque<std::shared_ptr<Job>> m_jobs;
    bool m_stopping = false;
    int m_wake_fd = -1;                 // eventfd: jobs queued, socket changed, stopping
    std::atomic<bool> m_connected{false};
    std::thread m_thread;
};

} // namespace delos::controller
