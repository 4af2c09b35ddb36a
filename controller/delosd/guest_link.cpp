// guest_link.cpp: see guest_link.h.
#include "guest_link.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "daemon_log.h"

namespace delos::controller {

GuestLink::GuestLink(std::string vm, Handlers handlers, std::chrono::milliseconds reply_timeout)
    : m_vm(std::move(vm)), m_handlers(std::move(handlers)), m_reply_timeout(reply_timeout)
{
    m_wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_wake_fd < 0)
        throw std::runtime_error("eventfd failed");
    m_thread = std::thread([this] { loop(); });
}

GuestLink::~GuestLink()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    wake();
    m_thread.join();
    ::close(m_wake_fd);
}

void GuestLink::wake()
{
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t written = ::write(m_wake_fd, &one, sizeof one);
}

void GuestLink::wait_woken(std::chrono::milliseconds limit)
{
    pollfd wake_poll{m_wake_fd, POLLIN, 0};
    ::poll(&wake_poll, 1, static_cast<int>(limit.count()));
}

void GuestLink::set_socket(const std::string& path)
{
    {
        std::lock_guard lock(m_mutex);
        if (m_socket_path == path)
            return;
        m_socket_path = path;
        ++m_socket_generation;
    }
    wake();
}

void GuestLink::run(std::function<void(chan::ChannelClient&)> work, std::chrono::steady_clock::time_point deadline)
{
    if (!m_connected)
        throw LinkUnavailable("guest " + m_vm + " is not connected (starting, restarting or stopped); try again");
    auto job = std::make_shared<Job>();
    job->work = std::move(work);
    std::future<void> done = job->done.get_future();
    {
        std::lock_guard lock(m_mutex);
        m_jobs.push_back(job);
    }
    wake();
    if (done.wait_until(deadline) != std::future_status::ready) {
        int queued = 0;
        if (job->state.compare_exchange_strong(queued, 2))
            throw LinkDeadline("guest " + m_vm + " did not answer before the deadline");
        done.wait();  // it is running on the caller's objects: let it finish
    }
    done.get();
}

void GuestLink::fail_queued(const std::string& reason)
{
    std::deque<std::shared_ptr<Job>> jobs;
    {
        std::lock_guard lock(m_mutex);
        jobs.swap(m_jobs);
    }
    for (auto& job : jobs)
        job->done.set_exception(std::make_exception_ptr(LinkUnavailable("guest " + m_vm + ": " + reason)));
}

void GuestLink::loop()
{
    auto backoff = std::chrono::milliseconds(20);
    std::string last_failure;
    for (;;) {
        std::string path;
        std::uint64_t generation;
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping)
                break;
            path = m_socket_path;
            generation = m_socket_generation;
        }
        if (path.empty()) {
            fail_queued("not running");
            wait_woken(std::chrono::milliseconds(1000));
            std::uint64_t drained;
            [[maybe_unused]] ssize_t got = ::read(m_wake_fd, &drained, sizeof drained);
            continue;
        }
        std::string reason;
        try {
            chan::ChannelClient client(path, m_reply_timeout);
            client.set_event_handler(m_handlers.event);
            const v1::HelloReply& hello = client.hello("delosd");
            backoff = std::chrono::milliseconds(20);
            last_failure.clear();
            m_connected = true;
            log_line("info", "guest connected", {{"vm", m_vm}, {"kernel", hello.kernel_version()}});
            if (m_handlers.connected)
                m_handlers.connected(hello);
            serve(client);
            reason = "link retargeted";
        } catch (const std::exception& error) {
            reason = error.what();
        }
        bool was_connected = m_connected.exchange(false);
        fail_queued(reason);
        if (was_connected) {
            log_line("warn", "guest disconnected", {{"vm", m_vm}, {"reason", reason}});
            if (m_handlers.disconnected)
                m_handlers.disconnected(reason);
        } else if (reason != last_failure) {
            log_line("debug", "guest not reachable", {{"vm", m_vm}, {"reason", reason}});
            last_failure = reason;
        }
        bool retargeted;
        {
            std::lock_guard lock(m_mutex);
            retargeted = generation != m_socket_generation || m_stopping;
        }
        if (!retargeted) {
            wait_woken(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
    fail_queued("delosd is shutting down");
}

void GuestLink::serve(chan::ChannelClient& client)
{
    std::uint64_t generation;
    {
        std::lock_guard lock(m_mutex);
        generation = m_socket_generation;
    }
    auto dispatch = [&](const v1::GuestMessage& message) {
        if (message.has_event() && m_handlers.event)
            m_handlers.event(message.event());
        // A reply nobody waits for belongs to a request whose caller gave up: dropped.
    };
    for (;;) {
        while (auto message = client.receive(std::chrono::milliseconds(0)))
            dispatch(*message);
        pollfd polls[2] = {{client.socket_fd(), POLLIN, 0}, {m_wake_fd, POLLIN, 0}};
        if (::poll(polls, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            throw chan::ConnectionError("poll failed");
        }
        if (polls[1].revents & POLLIN) {
            std::uint64_t drained;
            [[maybe_unused]] ssize_t got = ::read(m_wake_fd, &drained, sizeof drained);
        }
        for (;;) {
            std::shared_ptr<Job> job;
            {
                std::lock_guard lock(m_mutex);
                if (m_stopping || generation != m_socket_generation)
                    return;
                if (m_jobs.empty())
                    break;
                job = std::move(m_jobs.front());
                m_jobs.pop_front();
            }
            int queued = 0;
            if (!job->state.compare_exchange_strong(queued, 1)) {
                job->done.set_exception(std::make_exception_ptr(LinkDeadline("abandoned")));
                continue;
            }
            try {
                job->work(client);
                job->done.set_value();
            } catch (const chan::ConnectionError& error) {
                job->done.set_exception(std::current_exception());
                throw;  // the session is in an unknown state: reconnect
            } catch (...) {
                job->done.set_exception(std::current_exception());
            }
        }
        if (polls[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (auto message = client.receive(std::chrono::milliseconds(5)))
                dispatch(*message);
        }
    }
}

} // namespace delos::controller
