// fake_guest.h: a stand-in for the guest's control agent on a unix socket, built from the
// guest's own freestanding codec, frame decoder, SHA-256 and cell-object reader. Tests talk
// to it with delos-chan (which uses libprotobuf), so every exchange also checks the two codecs
// against each other; controller work can start before a real guest answers.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/crypto/sha256.h"
#include "lib/proto/channel_messages.h"

namespace delos::chan {

class FakeGuest {
public:
    struct Options {
        std::string kernel_version = "fake-0.1.0";
        // Cells "in the boot archive", loaded at start: log, and kv which depends on log.
        bool boot_cells = true;
    };

    // Listens on a fresh unix socket at `socket_path` (an old file there is replaced) and
    // serves one connection at a time on its own thread until destroyed.
    explicit FakeGuest(std::string socket_path, Options options);
    explicit FakeGuest(std::string socket_path) : FakeGuest(std::move(socket_path), Options{}) {}
    ~FakeGuest();
    FakeGuest(const FakeGuest&) = delete;
    FakeGuest& operator=(const FakeGuest&) = delete;

    const std::string& socket_path() const { return m_socket_path; }

    // Sends an event to the connected host, numbering it; false if no host is connected.
    bool emit(channel::Event event);
    bool emit_log(const std::string& cell, channel::LogLevel level, const std::string& text);
    // Also kept (the newest 16) for ListFaults, as the real guest's fault ring; a report without
    // a fault sequence or boot id gets this fake guest's.
    bool emit_fault(channel::FaultReport report);

    // For tests: how many connections were served and frames answered so far.
    std::uint64_t connections() const { return m_connections; }
    std::uint64_t frames_answered() const { return m_frames_answered; }
    // Blocks until a host is connected (or `timeout_ms` passes).
    bool wait_connected(int timeout_ms) const;

private:
    struct Cell {
        std::string name;
        std::string version;
        channel::CellState state = channel::CellState::Unspecified;
        std::uint32_t generation = 0;
        std::uint32_t section_count = 0;
        std::uint64_t text_bytes = 0, rodata_bytes = 0, data_bytes = 0, bss_bytes = 0, object_bytes = 0;
        std::vector<std::string> dependencies;
        crypto::Sha256Digest sha256;
        bool has_sha256 = false;
    };
    struct Push {
        std::string name;
        std::uint64_t total_size = 0;
        crypto::Sha256Digest expected;
        std::vector<std::uint8_t> bytes;
        crypto::Sha256 hash;  // updated chunk by chunk, so commit does not rehash
    };

    void serve();
    void serve_connection(int fd);
    void answer_frame(ByteView payload);
    channel::GuestMessage handle(const channel::HostMessage& request);
    ErrorOr<channel::Reply> handle_request(const channel::HostMessage& request);
    ErrorOr<channel::Reply> push_begin(const channel::PushCellBegin&);
    ErrorOr<channel::Reply> push_chunk(const channel::PushCellChunk&);
    ErrorOr<channel::Reply> push_commit(const channel::PushCellCommit&);
    ErrorOr<channel::Reply> load_cell(const std::string& name);
    ErrorOr<channel::Reply> unload_cell(const std::string& name);
    // Live evolution reduced to its outcome: versions and generations move, a CellSwapped event
    // goes out before the reply; the replaced version is kept for rollback.
    ErrorOr<channel::Reply> swap_cells(const channel::SwapCellsRequest& request, bool rollback);
    channel::CellInfo describe(const Cell&) const;
    Cell* find_cell(const std::string& name, channel::CellState state);
    void send(const channel::GuestMessage& message);
    void send_ready();

    std::string m_socket_path;
    Options m_options;
    int m_listen_fd = -1;
    int m_wake_pipe[2] = {-1, -1};
    std::thread m_thread;
    std::uint64_t m_started_ns;

    std::mutex m_write_mutex;  // one writer at a time on the connection (events come from any thread)
    int m_connection_fd = -1;  // guarded by m_write_mutex
    std::uint64_t m_next_sequence = 1;

    // Touched only by the serving thread.
    std::vector<Cell> m_cells;
    std::map<std::string, Cell> m_previous;  // by name: the version the last swap replaced
    std::map<std::uint32_t, Push> m_pushes;
    std::uint32_t m_next_push_id = 1;

    std::mutex m_faults_mutex;  // emit_fault runs on the test's thread
    std::vector<channel::FaultReport> m_faults;
    std::uint64_t m_faults_recorded = 0;

    std::atomic<std::uint64_t> m_connections{0};
    std::atomic<std::uint64_t> m_frames_answered{0};
    std::atomic<bool> m_connected{false};
};

} // namespace delos::chan
