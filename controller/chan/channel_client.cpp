// channel_client.cpp: socket I/O, framing and reply matching for ChannelClient.
#include "channel_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "abi/channel_limits.h"

namespace delos::chan {

namespace {

// The words guest/lib/core/error_or.cpp uses, so an error reads the same at every layer.
std::string status_word(v1::StatusCode code)
{
    std::string name = v1::StatusCode_Name(code);
    if (name.empty())
        return "status-" + std::to_string(static_cast<int>(code));
    name = name.substr(std::strlen("STATUS_"));
    for (char& c : name)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

} // namespace

std::string describe_status(const v1::Status& status)
{
    std::string text = status_word(status.code()) + ": " + (status.reason().empty() ? "(no reason given)" : status.reason());
    if (status.has_value())
        text += " (" + std::to_string(status.value()) + ")";
    return text;
}

GuestError::GuestError(v1::Status status) : std::runtime_error(describe_status(status)), m_status(std::move(status)) {}

ChannelClient::ChannelClient(const std::string& path, std::chrono::milliseconds timeout) : m_timeout(timeout)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        throw ConnectionError("socket path is too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0)
        throw ConnectionError(errno_text("socket"));
    if (::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::string message = errno_text("cannot connect to " + path);
        ::close(m_fd);
        m_fd = -1;
        throw ConnectionError(message);
    }
}

ChannelClient::~ChannelClient()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

void ChannelClient::write_all(const std::uint8_t* data, std::size_t size)
{
    while (size > 0) {
        ssize_t written = ::send(m_fd, data, size, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            throw ConnectionError(errno_text("write to the guest failed"));
        }
        data += written;
        size -= static_cast<std::size_t>(written);
        m_bytes_sent += static_cast<std::uint64_t>(written);
    }
}

std::uint64_t ChannelClient::send(v1::HostMessage& message)
{
    message.set_request_id(m_next_request_id++);
    std::size_t size = message.ByteSizeLong();
    if (size > channel::kMaxFrameBytes)
        throw ConnectionError("request of " + std::to_string(size) + " bytes exceeds the frame limit");
    m_frame.resize(channel::kFrameHeaderBytes + size);
    auto length = static_cast<std::uint32_t>(size);
    std::memcpy(m_frame.data(), &length, channel::kFrameHeaderBytes);  // little-endian host
    message.SerializeWithCachedSizesToArray(m_frame.data() + channel::kFrameHeaderBytes);
    write_all(m_frame.data(), m_frame.size());
    return message.request_id();
}

bool ChannelClient::fill_buffer(std::optional<std::chrono::steady_clock::time_point> deadline)
{
    // Drop frames already handed out; what is left is at most one partial frame.
    if (m_buffer_start > 0) {
        m_buffer.erase(m_buffer.begin(), m_buffer.begin() + static_cast<std::ptrdiff_t>(m_buffer_start));
        m_buffer_start = 0;
    }
    for (;;) {
        int wait_ms = -1;
        if (deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return false;
            wait_ms = static_cast<int>(left.count());
        }
        pollfd ready{m_fd, POLLIN, 0};
        int polled = ::poll(&ready, 1, wait_ms);
        if (polled < 0) {
            if (errno == EINTR)
                continue;
            throw ConnectionError(errno_text("poll"));
        }
        if (polled == 0)
            return false;
        std::uint8_t chunk[64 * 1024];
        ssize_t got = ::read(m_fd, chunk, sizeof chunk);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECONNRESET)
                throw ConnectionError("connection reset by the guest");
            throw ConnectionError(errno_text("read from the guest failed"));
        }
        if (got == 0)
            throw ConnectionError("connection closed by the guest");
        m_buffer.insert(m_buffer.end(), chunk, chunk + got);
        return true;
    }
}

std::optional<v1::GuestMessage> ChannelClient::read_message(std::optional<std::chrono::milliseconds> timeout)
{
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (timeout)
        deadline = std::chrono::steady_clock::now() + *timeout;
    for (;;) {
        std::size_t available = m_buffer.size() - m_buffer_start;
        if (available >= channel::kFrameHeaderBytes) {
            std::uint32_t length;
            std::memcpy(&length, m_buffer.data() + m_buffer_start, channel::kFrameHeaderBytes);
            if (length > channel::kMaxFrameBytes)
                throw ConnectionError("guest sent a frame of " + std::to_string(length) + " bytes, over the limit of "
                                      + std::to_string(channel::kMaxFrameBytes));
            if (available >= channel::kFrameHeaderBytes + length) {
                v1::GuestMessage message;
                const std::uint8_t* payload = m_buffer.data() + m_buffer_start + channel::kFrameHeaderBytes;
                if (!message.ParseFromArray(payload, static_cast<int>(length)))
                    throw ConnectionError("guest sent a frame that is not a GuestMessage");
                m_buffer_start += channel::kFrameHeaderBytes + length;
                return message;
            }
        }
        if (!fill_buffer(deadline))
            return std::nullopt;
    }
}

std::optional<v1::GuestMessage> ChannelClient::receive(std::optional<std::chrono::milliseconds> timeout)
{
    // Replies already read while waiting for another one come first, in id order.
    if (!m_early_replies.empty()) {
        v1::GuestMessage message;
        *message.mutable_reply() = std::move(m_early_replies.begin()->second);
        m_early_replies.erase(m_early_replies.begin());
        return message;
    }
    return read_message(timeout);
}

v1::Reply ChannelClient::wait_reply(std::uint64_t request_id)
{
    auto early = m_early_replies.find(request_id);
    v1::Reply reply;
    if (early != m_early_replies.end()) {
        reply = std::move(early->second);
        m_early_replies.erase(early);
    } else {
        for (;;) {
            std::optional<v1::GuestMessage> message = read_message(m_timeout);
            if (!message)
                throw ConnectionError("no reply from the guest within " + std::to_string(m_timeout.count()) + " ms");
            if (message->has_event()) {
                if (m_event_handler)
                    m_event_handler(message->event());
                continue;
            }
            if (!message->has_reply())
                continue;  // a kind this tool does not know: ignore it, as the protocol says
            if (message->reply().request_id() == request_id || message->reply().request_id() == 0) {
                reply = std::move(*message->mutable_reply());
                break;
            }
            m_early_replies[message->reply().request_id()] = std::move(*message->mutable_reply());
        }
    }
    if (reply.status().code() != v1::STATUS_OK || reply.request_id() == 0) {
        v1::Status status = reply.status();
        if (status.code() == v1::STATUS_OK) {
            status.set_code(v1::STATUS_INTERNAL);
            status.set_reason("guest replied to request id 0 without an error");
        }
        throw GuestError(status);
    }
    return reply;
}

v1::Reply ChannelClient::call(v1::HostMessage message)
{
    std::uint64_t id = send(message);
    return wait_reply(id);
}

const v1::HelloReply& ChannelClient::hello(const std::string& host_name)
{
    v1::HostMessage message;
    auto* hello = message.mutable_hello();
    hello->set_min_version(channel::kProtocolVersionMin);
    hello->set_max_version(channel::kProtocolVersionMax);
    hello->set_host_name(host_name);
    v1::Reply reply = call(std::move(message));
    if (!reply.has_hello())
        throw ConnectionError("guest answered hello without a hello reply");
    m_session = reply.hello();
    return m_session;
}

} // namespace delos::chan
