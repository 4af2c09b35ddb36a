// channel_engine.h: the one request engine of the channel protocol (docs/channel-protocol.md):
// bytes in, frames decoded, requests checked and dispatched, replies and events framed out;
// sessions, Hello, pushes (CellPushes) and the error texts. The guest's control agent and the
// host's fake guest both drive it; what differs between them sits behind ControlBackend.
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/control/cell_pushes.h"
#include "lib/control/control_backend.h"
#include "lib/proto/channel_messages.h"
#include "lib/proto/frame_decoder.h"
#include "lib/core/string.h"

namespace delos::control {

class ChannelEngine {
public:
    ChannelEngine(ControlBackend& backend, FrameWriter& writer) : m_backend(backend), m_writer(writer) {}

    // A host connected: the decoder starts afresh, open pushes are dropped, Ready goes out.
    void open_session();
    // The host left: a partial frame and open pushes are dropped and their memory returned.
    // Staged cells stay (they are the system's, not the session's).
    void close_session();
    bool session_open() const { return m_session_open; }

    // Bytes of the session's stream, in any pieces; every whole frame is answered at once.
    void receive(ByteView bytes);

    // Which session is open (0: none yet); a cell operation's reply goes out only if it still is.
    std::uint64_t session_number() const { return m_session_number; }

    // Sends an event, numbering it; false (and not numbered) when no session is open.
    bool send_event(channel::Event event);
    // Sends what the backend has queued (take_event) while a session is open, else drops it.
    void forward_backend_events();

    std::uint64_t frames_answered() const { return m_frames_answered; }
    const CellPushes& pushes() const { return m_pushes; }
    // Heap bytes the engine holds for the session and for staged cells.
    std::uint64_t bytes_held() const { return m_decoder.bytes_held() + m_pushes.bytes_held(); }

private:
    void answer(ByteView payload);
    ErrorOr<channel::Reply> handle(const channel::HostMessage&);
    ErrorOr<channel::Reply> hello(const channel::HelloRequest&);
    // Load and unload are checked here, then run by the backend (perhaps in a task of its own),
    // which sends the reply when done: true when that is under way, false when `reply` is the answer.
    bool start_load(std::uint64_t request_id, StringView name, ErrorOr<channel::Reply>& reply);
    bool start_unload(std::uint64_t request_id, StringView name, ErrorOr<channel::Reply>& reply);
    bool start_cell_operation(std::uint64_t request_id, UniqueFunction<ErrorOr<channel::Reply>()> operation,
                              ErrorOr<channel::Reply>& reply);
    void finish_cell_operation(std::uint64_t session, std::uint64_t request_id, ErrorOr<channel::Reply> reply);
    ErrorOr<channel::Reply> swap_cells(const channel::SwapCellsRequest&);
    ErrorOr<channel::Reply> rollback_cell(StringView name);
    void announce_swap(const channel::CellSwapped&);
    channel::Reply list_cells() const;
    channel::Reply stats() const;
    void send(const channel::GuestMessage&);
    void send_reply(std::uint64_t request_id, ErrorOr<channel::Reply> reply);
    bool send_event_locked(channel::Event event);

    class SendGuard {
    public:
        explicit SendGuard(FrameWriter& writer) : m_writer(writer) { m_writer.lock_sends(); }
        ~SendGuard() { m_writer.unlock_sends(); }
        SendGuard(const SendGuard&) = delete;
        SendGuard& operator=(const SendGuard&) = delete;

    private:
        FrameWriter& m_writer;
    };

    ControlBackend& m_backend;
    FrameWriter& m_writer;
    channel::FrameDecoder m_decoder;
    CellPushes m_pushes;
    // Guarded by the writer's send lock (cell operations finish in other tasks).
    bool m_session_open = false;
    std::uint64_t m_session_number = 0;
    std::uint64_t m_next_sequence = 1;
    std::uint64_t m_frames_answered = 0;
};

// A loaded or staged cell as ListCells, PushCommit and LoadCell report it.
channel::CellInfo describe_staged(const StagedCell&);

} // namespace delos::control
