// scripted_guest.cpp: see scripted_guest.h.
#include "scripted_guest.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace delos::test {

ScriptedGuest::ScriptedGuest(std::string socket_path) : m_path(std::move(socket_path))
{
    ::unlink(m_path.c_str());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, m_path.c_str(), sizeof address.sun_path - 1);
    m_listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(m_listen_fd, 4) != 0)
        throw std::runtime_error("cannot listen on " + m_path);
    m_thread = std::thread([this] { serve(); });
}

ScriptedGuest::~ScriptedGuest()
{
    m_stopping = true;
    m_thread.join();
    ::close(m_listen_fd);
    ::unlink(m_path.c_str());
}

bool ScriptedGuest::wait_connected(std::chrono::milliseconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        {
            std::lock_guard lock(m_write_mutex);
            if (m_fd >= 0)
                return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

bool ScriptedGuest::send_raw(const std::string& bytes)
{
    std::lock_guard lock(m_write_mutex);
    if (m_fd < 0)
        return false;
    return ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

bool ScriptedGuest::send_message(const v1::GuestMessage& message)
{
    std::string payload = message.SerializeAsString();
    auto length = static_cast<std::uint32_t>(payload.size());
    std::string frame(reinterpret_cast<const char*>(&length), 4);
    return send_raw(frame + payload);
}

bool ScriptedGuest::send_fault(std::uint64_t sequence, const v1::FaultReport& report)
{
    v1::GuestMessage message;
    message.mutable_event()->set_sequence(sequence);
    message.mutable_event()->set_uptime_ns(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - m_booted).count()));
    *message.mutable_event()->mutable_fault_report() = report;
    return send_message(message);
}

void ScriptedGuest::hang_up()
{
    std::lock_guard lock(m_write_mutex);
    if (m_fd >= 0)
        ::shutdown(m_fd, SHUT_RDWR);
}

void ScriptedGuest::serve()
{
    while (!m_stopping) {
        pollfd ready{m_listen_fd, POLLIN, 0};
        if (::poll(&ready, 1, 50) <= 0)
            continue;
        int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        ++m_connections;
        {
            std::lock_guard lock(m_write_mutex);
            m_fd = fd;
        }
        serve_connection(fd);
        {
            std::lock_guard lock(m_write_mutex);
            m_fd = -1;
        }
        ::close(fd);
    }
}

void ScriptedGuest::serve_connection(int fd)
{
    v1::GuestMessage ready;
    ready.mutable_event()->set_sequence(m_next_sequence++);
    ready.mutable_event()->set_uptime_ns(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - m_booted).count()));
    ready.mutable_event()->mutable_ready()->set_kernel_version("scripted-1");
    {
        std::lock_guard lock(m_write_mutex);
        ready.mutable_event()->mutable_ready()->set_boot_id(m_boot_id);
    }
    send_message(ready);
    std::string buffer;
    while (!m_stopping) {
        pollfd readable{fd, POLLIN, 0};
        if (::poll(&readable, 1, 50) <= 0)
            continue;
        char chunk[65536];
        ssize_t got = ::read(fd, chunk, sizeof chunk);
        if (got <= 0)
            return;
        buffer.append(chunk, static_cast<std::size_t>(got));
        while (buffer.size() >= 4) {
            std::uint32_t length;
            std::memcpy(&length, buffer.data(), 4);
            if (buffer.size() < 4 + length)
                break;
            v1::HostMessage request;
            request.ParseFromArray(buffer.data() + 4, static_cast<int>(length));
            buffer.erase(0, 4 + length);
            v1::GuestMessage reply_message;
            v1::Reply& reply = *reply_message.mutable_reply();
            reply.set_request_id(request.request_id());
            if (request.has_hello()) {
                reply.mutable_hello()->set_version(1);
                reply.mutable_hello()->set_kernel_version("scripted-1");
                reply.mutable_hello()->set_max_frame_bytes(1 << 20);
                reply.mutable_hello()->set_max_chunk_bytes(64 << 10);
            } else if (request.has_list_cells()) {
                reply.mutable_list_cells();
            } else if (request.has_stats()) {
                reply.mutable_stats()->set_task_count(1);
            } else if (request.has_push_begin()) {
                reply.mutable_push_begin()->set_push_id(7);
            } else if (request.has_push_chunk()) {
                ++m_push_chunks;
                if (m_hang_up_on_chunk)
                    return;  // gone in the middle of the push
                reply.mutable_push_chunk()->set_received_bytes(request.push_chunk().offset()
                                                               + request.push_chunk().data().size());
            } else {
                reply.mutable_status()->set_code(v1::STATUS_UNSUPPORTED);
                reply.mutable_status()->set_reason("the scripted guest does not do that");
            }
            send_message(reply_message);
        }
    }
}

v1::FaultReport make_fault(const std::string& cell, v1::FaultKind kind, const std::string& message)
{
    v1::FaultReport report;
    report.set_task_id(7);
    report.set_task_name("worker");
    report.set_cell_name(cell);
    report.set_cell_version("1.0.0");
    report.set_symbol("kv::put");
    report.set_symbol_offset(0x2a);
    report.set_kind(kind);
    report.set_vector(14);
    report.set_address(0xdead0000);
    report.set_instruction_pointer(0xffff800000123456);
    report.set_message(message);
    report.set_action(v1::RECOVERY_ACTION_TASK_RESTARTED);
    report.set_fault_count(1);
    report.set_cell_generation(1);
    auto* frame = report.add_backtrace();
    frame->set_address(0xffff800000123456);
    frame->set_symbol("kv::put");
    frame->set_offset(0x2a);
    frame->set_cell(cell);
    frame = report.add_backtrace();
    frame->set_address(0xffff800000120010);
    frame->set_symbol("kv::serve");
    frame->set_offset(0x10);
    frame->set_cell(cell);
    return report;
}

} // namespace delos::test
