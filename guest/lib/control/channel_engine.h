// channel_engine.h: the one request engine of the channel protocol (docs/channel-protocol.md):
// bytes in, frames decoded, requests checked and dispatched, replies and events framed out;
// sessions, Hello, pushes (CellPushes) and the error texts. The guest's control agent and the
// host's fake guest both drive it; what differs between them sits behind ControlBackend.
#pragma once

#include <cstdint>

#include "lib/byte_view.h"
#include "lib/control/cell_pushes.h"
#include "lib/control/control_backend.h"
#include "lib/proto/channel_messages.h"
#include "lib/proto/frame_decoder.h"
#include "lib/string.h"

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
    ErrorOr<channel::Reply> load_cell(StringView name);
    ErrorOr<channel::Reply> unload_cell(StringView name);
    channel::Reply list_cells() const;
    channel::Reply stats() const;
    Error with_backend_detail(Error);
    void send(const channel::GuestMessage&);
    void send_reply(std::uint64_t request_id, ErrorOr<channel::Reply> reply);

    ControlBackend& m_backend;
    FrameWriter& m_writer;
    channel::FrameDecoder m_decoder;
    CellPushes m_pushes;
    bool m_session_open = false;
    std::uint64_t m_next_sequence = 1;
    std::uint64_t m_frames_answered = 0;
    String m_failure_detail;  // the backend's names for the current request's refusal
};

// A loaded or staged cell as ListCells, PushCommit and LoadCell report it.
channel::CellInfo describe_staged(const StagedCell&);

} // namespace delos::control
