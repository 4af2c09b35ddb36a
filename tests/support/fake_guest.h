// fake_guest.h: a stand-in for the guest on a unix socket, for tests and for trying delos-chan
// before a real guest answers. It runs the guest's own channel engine (lib/control/
// channel_engine.h: codec, framing, pushes with SHA-256, error texts); only what lies behind
// ControlBackend is modelled: cells are records, loading one links nothing. Tests talk to it
// with delos-chan (libprotobuf), so every exchange also checks the two codecs against each other.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/control/channel_engine.h"
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
    bool emit_fault(channel::FaultReport report);

    // For tests: how many connections were served and frames answered so far.
    std::uint64_t connections() const { return m_connections; }
    std::uint64_t frames_answered() const;
    // Blocks until a host is connected (or `timeout_ms` passes).
    bool wait_connected(int timeout_ms) const;

private:
    class Backend final : public control::ControlBackend {
    public:
        Backend(const Options& options, std::uint64_t started_ns);
        StringView kernel_version() const override;
        std::uint64_t boot_ns() const override { return 1'500'000; }
        std::uint64_t uptime_ns() const override;
        std::uint64_t free_memory_bytes() const override { return 200ull << 20; }
        std::uint32_t loaded_cell_count() const override { return static_cast<std::uint32_t>(m_cells.size()); }
        bool is_loaded(StringView name) const override;
        void describe_loaded_cells(Vector<channel::CellInfo>& into) const override;
        ErrorOr<channel::LoadCellReply> load_from_archive(StringView name) override;
        ErrorOr<channel::LoadCellReply> load_staged(const control::StagedCell& cell) override;
        ErrorOr<void> unload(StringView name) override;
        // Live evolution reduced to its outcome: versions and generations move; the replaced
        // version is kept for rollback. The engine sends the CellSwapped event.
        ErrorOr<channel::CellSwapped> swap_cells(const Vector<SwapSource>& sources) override;
        ErrorOr<channel::CellSwapped> rollback_cell(StringView name) override;
        void fill_stats(channel::StatsReply& stats) const override;
        bool take_event(channel::Event& event) override;

    private:
        const Options& m_options;
        std::uint64_t m_started_ns;
        struct Planned {
            std::string name;
            channel::CellInfo replacement;
        };
        channel::CellInfo* find_loaded(StringView name);
        channel::CellSwapped apply(std::vector<Planned>& plan, bool rollback);

        std::vector<channel::CellInfo> m_cells;     // loaded
        std::map<std::string, channel::CellInfo> m_previous;  // by name: the version the last swap replaced
        std::vector<channel::Event> m_pending;      // log lines of cells' init, sent before the reply
    };

    class SocketWriter final : public control::FrameWriter {
    public:
        void write_frame(ByteView frame) override;
        int fd = -1;
    };

    void serve();
    void serve_connection(int fd);

    std::string m_socket_path;
    Options m_options;
    int m_listen_fd = -1;
    int m_wake_pipe[2] = {-1, -1};
    std::thread m_thread;
    std::uint64_t m_started_ns;

    // The engine is driven by the serving thread and by emit() from any thread: one at a time.
    mutable std::mutex m_mutex;
    Backend m_backend;
    SocketWriter m_writer;
    control::ChannelEngine m_engine;

    std::atomic<std::uint64_t> m_connections{0};
    std::atomic<bool> m_connected{false};
};

} // namespace delos::chan
