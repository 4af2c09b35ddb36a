// channel_client.h: the host end of the channel protocol on a unix socket, with libprotobuf:
// frames requests out, reads replies back by request id, and hands every event that arrives
// meanwhile to a callback so none is lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "delos/v1/channel.pb.h"

namespace delos::chan {

// The socket failed, closed, timed out or carried something that is not the protocol.
class ConnectionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The guest answered with an error status.
class GuestError : public std::runtime_error {
public:
    explicit GuestError(v1::Status status);
    const v1::Status& status() const { return m_status; }

private:
    v1::Status m_status;
};

// "not-found: no such cell (7)": the status as one line, in the words of error_code_name().
std::string describe_status(const v1::Status& status);

class ChannelClient {
public:
    using EventHandler = std::function<void(const v1::Event&)>;

    // Connects to the unix socket at `path`; `timeout` bounds every wait for a reply.
    ChannelClient(const std::string& path, std::chrono::milliseconds timeout);
    ~ChannelClient();
    ChannelClient(const ChannelClient&) = delete;
    ChannelClient& operator=(const ChannelClient&) = delete;

    void set_event_handler(EventHandler handler) { m_event_handler = std::move(handler); }

    // Gives `message` a fresh request id, sends it and returns the id.
    std::uint64_t send(v1::HostMessage& message);
    // Waits for the reply to `request_id`. Replies to other requests are kept for their own
    // wait; events go to the handler. Throws GuestError for an error status, and also for a
    // reply with request id 0, which the guest sends when it could not tell which request
    // a bad frame belonged to.
    v1::Reply wait_reply(std::uint64_t request_id);
    // send() then wait_reply().
    v1::Reply call(v1::HostMessage message);
    // The next message of any kind; nullopt if `timeout` passes first (nullopt timeout: wait forever).
    std::optional<v1::GuestMessage> receive(std::optional<std::chrono::milliseconds> timeout);

    // What Hello negotiated (valid after hello()).
    const v1::HelloReply& session() const { return m_session; }
    // Opens the session: protocol versions and the guest's limits.
    const v1::HelloReply& hello(const std::string& host_name);

    std::uint64_t bytes_sent() const { return m_bytes_sent; }
    // The connected socket, for callers that wait on it beside other descriptors (delosd);
    // bytes already buffered are drained with receive(0ms) first.
    int socket_fd() const { return m_fd; }

private:
    std::optional<v1::GuestMessage> read_message(std::optional<std::chrono::milliseconds> timeout);
    bool fill_buffer(std::optional<std::chrono::steady_clock::time_point> deadline);
    void write_all(const std::uint8_t* data, std::size_t size);

    int m_fd = -1;
    std::chrono::milliseconds m_timeout;
    std::uint64_t m_next_request_id = 1;
    std::vector<std::uint8_t> m_buffer;  // bytes read, not yet framed
    std::size_t m_buffer_start = 0;
    std::vector<std::uint8_t> m_frame;   // reused for outgoing frames
    std::map<std::uint64_t, v1::Reply> m_early_replies;
    EventHandler m_event_handler;
    v1::HelloReply m_session;
    std::uint64_t m_bytes_sent = 0;
};

} // namespace delos::chan
