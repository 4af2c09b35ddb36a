// scripted_guest.h: a guest end of the channel that a test scripts frame by frame (libprotobuf):
// it answers hello, list_cells and stats, and otherwise does what the test says: send fault
// reports with chosen sequence numbers (to re-deliver one), send garbage, hang up in the middle
// of a push. The well-behaved stand-in is delos-fake-guest; this one misbehaves on purpose.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "delos/v1/channel.pb.h"

namespace delos::test {

class ScriptedGuest {
public:
    explicit ScriptedGuest(std::string socket_path);
    ~ScriptedGuest();

    // Sends a fault report event numbered `sequence` (stamped with the current uptime); false if
    // no host is connected. Sending a sequence again is a re-delivery.
    bool send_fault(std::uint64_t sequence, const v1::FaultReport& report);
    bool send_raw(const std::string& bytes);  // anything, framed or not
    void hang_up();                           // closes the current connection
    bool wait_connected(std::chrono::milliseconds limit);
    std::uint64_t connections() const { return m_connections; }
    std::uint64_t push_chunks_seen() const { return m_push_chunks; }
    // When set, the connection is closed as soon as a push chunk arrives.
    void set_hang_up_on_push_chunk(bool value) { m_hang_up_on_chunk = value; }
    // The boot id the next connection's Ready says ("" by default: none), as a snapshot clone that
    // took a fresh identity would.
    void set_boot_id(std::string id)
    {
        std::lock_guard lock(m_write_mutex);
        m_boot_id = std::move(id);
    }

private:
    void serve();
    void serve_connection(int fd);
    bool send_message(const v1::GuestMessage& message);

    std::string m_path;
    int m_listen_fd = -1;
    std::atomic<bool> m_stopping{false};
    std::mutex m_write_mutex;
    int m_fd = -1;  // guarded by m_write_mutex
    std::atomic<std::uint64_t> m_connections{0};
    std::atomic<std::uint64_t> m_push_chunks{0};
    std::atomic<bool> m_hang_up_on_chunk{false};
    std::string m_boot_id;  // guarded by m_write_mutex
    std::uint64_t m_next_sequence = 1000000;  // for Ready events, far from test sequences
    std::chrono::steady_clock::time_point m_booted = std::chrono::steady_clock::now();
    std::thread m_thread;
};

v1::FaultReport make_fault(const std::string& cell, v1::FaultKind kind, const std::string& message);

} // namespace delos::test
