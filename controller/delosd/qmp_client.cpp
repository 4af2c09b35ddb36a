// qmp_client.cpp: see qmp_client.h.
#include "qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace delos::controller {

namespace {
constexpr std::size_t kMaxLine = 1 << 20;
}

QmpClient::QmpClient(const std::string& socket_path, std::chrono::steady_clock::time_point deadline,
                     const std::function<bool()>& still_worth_waiting)
    : m_deadline(deadline)
{
    sockaddr_un address{};
    if (socket_path.size() >= sizeof address.sun_path)
        throw std::runtime_error("QMP socket path " + socket_path + " is too long for a unix socket");
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    for (;;) {
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m_fd >= 0 && ::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
            break;
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("QEMU did not open its QMP socket " + socket_path + " in time");
        if (still_worth_waiting && !still_worth_waiting())
            throw std::runtime_error("QEMU ended before it opened its QMP socket");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::string greeting = line();
    if (greeting.find("\"QMP\"") == std::string::npos)
        throw std::runtime_error("not a QMP greeting: " + greeting.substr(0, 200));
    command(R"({"execute":"qmp_capabilities"})");
}

QmpClient::~QmpClient()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

std::string QmpClient::command(const std::string& json)
{
    std::string out = json + "\n";
    for (std::size_t sent = 0; sent < out.size();) {
        ssize_t wrote = ::send(m_fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (wrote <= 0)
            throw std::runtime_error("QMP connection lost while sending " + json);
        sent += static_cast<std::size_t>(wrote);
    }
    for (;;) {
        std::string reply = line();
        if (reply.find("\"event\"") != std::string::npos && reply.find("\"return\"") == std::string::npos)
            continue;
        if (reply.find("\"error\"") != std::string::npos)
            throw std::runtime_error("QEMU refused " + json + ": " + reply.substr(0, 500));
        return reply;
    }
}

std::string QmpClient::line()
{
    for (;;) {
        auto newline = m_buffer.find('\n');
        if (newline != std::string::npos) {
            std::string text = m_buffer.substr(0, newline);
            m_buffer.erase(0, newline + 1);
            return text;
        }
        if (m_buffer.size() > kMaxLine)
            throw std::runtime_error("QMP reply line over 1 MiB");
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(m_deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            throw std::runtime_error("QEMU did not answer on QMP in time");
        pollfd readable{m_fd, POLLIN, 0};
        if (::poll(&readable, 1, static_cast<int>(std::min<long long>(left.count(), 1000))) <= 0)
            continue;
        char chunk[4096];
        ssize_t got = ::read(m_fd, chunk, sizeof chunk);
        if (got <= 0)
            throw std::runtime_error("QMP connection closed by QEMU");
        m_buffer.append(chunk, static_cast<std::size_t>(got));
    }
}

} // namespace delos::controller
