// gdb_remote_client.h: a GDB remote serial protocol client over a unix socket (QEMU's
// `-gdb unix:PATH,server=on,wait=off`): stop the vCPU, read and write memory and registers,
// software breakpoints, single step, continue and wait for the next stop with a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gdb_remote_protocol.h"

namespace delos::fault_campaign::gdb {

// x86-64 register numbers in GDB's order (as QEMU's gdbstub numbers them).
inline constexpr int kRegisterRsp = 7;
inline constexpr int kRegisterRip = 16;

class RemoteClient {
public:
    RemoteClient() = default;
    ~RemoteClient();
    RemoteClient(const RemoteClient&) = delete;
    RemoteClient& operator=(const RemoteClient&) = delete;

    // Connects (retrying until `timeout`); QEMU stops the guest while a debugger attaches.
    bool connect(const std::string& socket_path, std::chrono::milliseconds timeout);
    const std::string& error() const { return m_error; }

    // Requests that expect an immediate reply; nullopt/false with error() set on failure.
    std::optional<std::string> request(const std::string& payload, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    std::optional<std::vector<std::uint8_t>> read_memory(std::uint64_t address, std::size_t length);
    bool write_memory(std::uint64_t address, const std::vector<std::uint8_t>& bytes);
    std::optional<std::uint64_t> read_register(int number);
    bool write_register(int number, std::uint64_t value);
    bool insert_breakpoint(std::uint64_t address);
    bool remove_breakpoint(std::uint64_t address);

    // Resumes; the stop comes later through wait_stop.
    bool resume();
    // One instruction, then the stop.
    std::optional<StopReply> step();
    // Stops a running guest (^C) and returns the stop.
    std::optional<StopReply> interrupt();
    // The next stop reply, or nullopt on timeout (error() empty) or a closed connection (error() set).
    std::optional<StopReply> wait_stop(std::chrono::milliseconds timeout);
    bool closed() const { return m_closed; }

private:
    bool send_raw(const std::string& bytes);
    bool send_packet(const std::string& payload);
    std::optional<PacketReader::Packet> read_packet(std::chrono::milliseconds timeout);

    int m_fd = -1;
    bool m_closed = false;
    std::string m_error;
    PacketReader m_reader;
};

} // namespace delos::fault_campaign::gdb
