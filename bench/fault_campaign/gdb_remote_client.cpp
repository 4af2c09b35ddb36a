// gdb_remote_client.cpp: the GDB remote client: packets over a unix socket, acks, deadlines.
#include "gdb_remote_client.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace delos::fault_campaign::gdb {

namespace {

std::string hex_number(std::uint64_t value)
{
    char text[32];
    std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(value));
    return text;
}

} // namespace

RemoteClient::~RemoteClient()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

bool RemoteClient::connect(const std::string& socket_path, std::chrono::milliseconds timeout)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof address.sun_path) {
        m_error = "socket path too long";
        return false;
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            m_error = std::string("socket: ") + std::strerror(errno);
            return false;
        }
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
            m_fd = fd;
            return request("?").has_value();  // the stop the attach caused
        }
        int saved = errno;
        ::close(fd);
        if (std::chrono::steady_clock::now() >= deadline) {
            m_error = std::string("connect ") + socket_path + ": " + std::strerror(saved);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

bool RemoteClient::send_raw(const std::string& bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(m_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            m_closed = true;
            m_error = "the stub closed the connection";
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool RemoteClient::send_packet(const std::string& payload)
{
    if (m_fd < 0 || m_closed) {
        m_error = "not connected";
        return false;
    }
    static const bool trace = std::getenv("DELOS_FC_TRACE_GDB") != nullptr;
    if (trace)
        std::fprintf(stderr, "gdb -> %s\n", payload.substr(0, 80).c_str());
    return send_raw(frame_packet(payload));
}

std::optional<PacketReader::Packet> RemoteClient::read_packet(std::chrono::milliseconds timeout)
{
    static const bool trace = std::getenv("DELOS_FC_TRACE_GDB") != nullptr;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto packet = m_reader.next()) {
            // A stub that ends the connection right after its last packet (QEMU exiting) cannot take
            // the ack; the packet still counts.
            if (!send_raw(packet->checksum_ok ? "+" : "-") && !packet->checksum_ok)
                return std::nullopt;
            if (!packet->checksum_ok)
                continue;  // the stub sends it again
            if (trace)
                std::fprintf(stderr, "gdb <- %s\n", packet->payload.substr(0, 80).c_str());
            return packet;
        }
        if (m_closed)
            return std::nullopt;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            m_error.clear();
            return std::nullopt;
        }
        pollfd poll_fd{m_fd, POLLIN, 0};
        int ready = ::poll(&poll_fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (ready < 0 && errno != EINTR) {
            m_error = std::string("poll: ") + std::strerror(errno);
            m_closed = true;
            return std::nullopt;
        }
        if (ready <= 0)
            continue;
        char buffer[4096];
        ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            m_closed = true;
            m_error = "the stub closed the connection (the VM is gone)";
            return std::nullopt;
        }
        m_reader.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
}

std::optional<std::string> RemoteClient::request(const std::string& payload, std::chrono::milliseconds timeout)
{
    if (!send_packet(payload))
        return std::nullopt;
    for (;;) {
        auto packet = read_packet(timeout);
        if (!packet) {
            if (m_error.empty())
                m_error = "no reply to '" + payload.substr(0, 16) + "'";
            return std::nullopt;
        }
        // Console output ('O' packets) may come between a request and its reply.
        if (packet->payload.size() > 1 && packet->payload[0] == 'O' && packet->payload != "OK")
            continue;
        // A stop the stub reported on its own (QEMU stops the guest when a debugger attaches) is
        // not the reply to anything but '?'.
        if (payload != "?" && !packet->payload.empty() && (packet->payload[0] == 'T' || packet->payload[0] == 'S') && parse_stop_reply(packet->payload))
            continue;
        return packet->payload;
    }
}

std::optional<std::vector<std::uint8_t>> RemoteClient::read_memory(std::uint64_t address, std::size_t length)
{
    auto reply = request("m" + hex_number(address) + "," + hex_number(length));
    if (!reply)
        return std::nullopt;
    if (is_error_reply(*reply)) {
        m_error = "memory read refused: " + *reply;
        return std::nullopt;
    }
    auto bytes = from_hex(*reply);
    if (!bytes || bytes->size() != length) {
        m_error = "malformed memory read reply";
        return std::nullopt;
    }
    return bytes;
}

bool RemoteClient::write_memory(std::uint64_t address, const std::vector<std::uint8_t>& bytes)
{
    auto reply = request("M" + hex_number(address) + "," + hex_number(bytes.size()) + ":" + to_hex(bytes));
    if (!reply || !is_ok(*reply)) {
        if (reply)
            m_error = "memory write refused: " + *reply;
        return false;
    }
    return true;
}

// QEMU answers 'p'/'P' only after the target description was read, so registers go through
// 'g'/'G' (the whole block, general registers first, 8 bytes each: rax ... r15, rip).
std::optional<std::uint64_t> RemoteClient::read_register(int number)
{
    auto reply = request("g");
    if (!reply)
        return std::nullopt;
    auto value = register_in_block(*reply, number);
    if (!value)
        m_error = "malformed register block: " + reply->substr(0, 32);
    return value;
}

bool RemoteClient::write_register(int number, std::uint64_t value)
{
    auto block = request("g");
    if (!block)
        return false;
    auto updated = block_with_register(*block, number, value);
    if (!updated) {
        m_error = "malformed register block: " + block->substr(0, 32);
        return false;
    }
    auto reply = request("G" + *updated);
    if (!reply || !is_ok(*reply)) {
        if (reply)
            m_error = "register write refused: " + *reply;
        return false;
    }
    return true;
}

bool RemoteClient::insert_breakpoint(std::uint64_t address)
{
    auto reply = request("Z0," + hex_number(address) + ",1");
    if (!reply || !is_ok(*reply)) {
        if (reply)
            m_error = "breakpoint refused: " + *reply;
        return false;
    }
    return true;
}

bool RemoteClient::remove_breakpoint(std::uint64_t address)
{
    auto reply = request("z0," + hex_number(address) + ",1");
    return reply && is_ok(*reply);
}

bool RemoteClient::resume() { return send_packet("c"); }

std::optional<StopReply> RemoteClient::step()
{
    if (!send_packet("s"))
        return std::nullopt;
    return wait_stop(std::chrono::seconds(10));
}

std::optional<StopReply> RemoteClient::interrupt()
{
    if (!send_raw(std::string(1, '\x03')))
        return std::nullopt;
    return wait_stop(std::chrono::seconds(10));
}

std::optional<StopReply> RemoteClient::wait_stop(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() < 0)
            left = std::chrono::milliseconds(0);
        auto packet = read_packet(left);
        if (!packet)
            return std::nullopt;
        if (auto stop = parse_stop_reply(packet->payload))
            return stop;
        // Anything else (console output) is not a stop: keep waiting.
    }
}

} // namespace delos::fault_campaign::gdb
