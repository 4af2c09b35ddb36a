// channel_engine.cpp: sessions, dispatch and the replies of the channel protocol. Nothing from the
// host is trusted: frames are bounded by the decoder, messages validated by the codec, pushes
// checked by CellPushes, objects by the backend's linker.
#include "lib/control/channel_engine.h"

#include "abi/channel_limits.h"
#include "lib/proto/channel_codec.h"

namespace delos::control {

using namespace channel;

CellInfo describe_staged(const StagedCell& cell)
{
    CellInfo info;
    info.name = cell.name;
    info.version = cell.version;
    info.state = CellState::Staged;
    info.section_count = cell.section_count;
    info.text_bytes = cell.text_bytes;
    info.rodata_bytes = cell.rodata_bytes;
    info.data_bytes = cell.data_bytes;
    info.bss_bytes = cell.bss_bytes;
    info.object_bytes = cell.bytes.size();
    info.sha256 = cell.sha256;
    info.has_sha256 = true;
    return info;
}

void ChannelEngine::open_session()
{
    close_session();
    m_session_open = true;
    Event event;
    event.kind = Event::Kind::Ready;
    event.ready.kernel_version = String(m_backend.kernel_version());
    event.ready.cells_loaded = m_backend.loaded_cell_count();
    event.ready.boot_ns = m_backend.boot_ns();
    event.ready.min_version = kProtocolVersionMin;
    event.ready.max_version = kProtocolVersionMax;
    send_event(static_cast<Event&&>(event));
}

void ChannelEngine::close_session()
{
    m_session_open = false;
    m_decoder.reset();
    m_pushes.drop_open_pushes();
    m_failure_detail = String();
}

void ChannelEngine::send(const GuestMessage& message)
{
    Vector<std::uint8_t> frame;
    if (append_frame(frame, message).is_error())
        return;  // only replies can be too large, and send_reply answers those with an error
    m_writer.write_frame(ByteView(frame.data(), frame.size()));
}

bool ChannelEngine::send_event(Event event)
{
    if (!m_session_open)
        return false;
    event.sequence = m_next_sequence++;
    if (event.uptime_ns == 0)
        event.uptime_ns = m_backend.uptime_ns();
    send(GuestMessage::make_event(static_cast<Event&&>(event)));
    return true;
}

void ChannelEngine::forward_backend_events()
{
    Event event;
    while (m_backend.take_event(event)) {
        send_event(static_cast<Event&&>(event));  // dropped without a session: the console still has it
        event = Event();
    }
}

void ChannelEngine::receive(ByteView input)
{
    for (;;) {
        FrameEvent event = m_decoder.next(input);
        if (event.kind == FrameEvent::Kind::NeedMoreBytes)
            return;
        ++m_frames_answered;  // before the reply, so a host that has the reply sees the count
        if (event.kind == FrameEvent::Kind::Oversized)
            send(GuestMessage::make_error_reply(peek_request_id(event.payload), event.error));
        else
            answer(event.payload);
    }
}

void ChannelEngine::answer(ByteView payload)
{
    auto request = decode_host_message(payload);
    if (request.is_error()) {
        // A bad frame costs its sender one error reply; the session goes on.
        send(GuestMessage::make_error_reply(peek_request_id(payload), request.error()));
        return;
    }
    m_failure_detail.clear();
    auto reply = handle(request.value());
    forward_backend_events();  // what the request made cells log goes out before its reply
    send_reply(request->request_id, static_cast<ErrorOr<Reply>&&>(reply));
}

void ChannelEngine::send_reply(std::uint64_t request_id, ErrorOr<Reply> reply)
{
    if (!reply.is_error()) {
        reply.value().request_id = request_id;
        GuestMessage message = GuestMessage::make_reply(reply.release_value());
        Vector<std::uint8_t> frame;
        if (auto encoded = append_frame(frame, message); encoded.is_error()) {
            send(GuestMessage::make_error_reply(request_id, encoded.error()));
            return;
        }
        m_writer.write_frame(ByteView(frame.data(), frame.size()));
        return;
    }
    GuestMessage message = GuestMessage::make_error_reply(request_id, reply.error());
    if (!m_failure_detail.empty()) {
        // The exact reason: the error's message plus the names the backend gave.
        message.reply.status.reason.append(": ");
        message.reply.status.reason.append(m_failure_detail.view());
    }
    send(message);
}

Error ChannelEngine::with_backend_detail(Error error)
{
    m_failure_detail = String(m_backend.failure_detail());
    return error;
}

ErrorOr<Reply> ChannelEngine::hello(const HelloRequest& request)
{
    Reply reply;
    reply.payload = Reply::Payload::Hello;
    reply.hello.version = TRY(negotiate_version(request));
    // Hello (re)opens the session: pushes it left open are dropped; staged cells stay.
    m_pushes.drop_open_pushes();
    reply.hello.kernel_version = String(m_backend.kernel_version());
    reply.hello.max_frame_bytes = kMaxFrameBytes;
    reply.hello.max_chunk_bytes = kMaxChunkBytes;
    return reply;
}

ErrorOr<Reply> ChannelEngine::load_cell(StringView name)
{
    Reply reply;
    reply.payload = Reply::Payload::LoadCell;
    if (m_pushes.staged(name)) {
        // No live replacement yet: the staged copy stays staged for a load after an unload.
        if (m_backend.is_loaded(name))
            return Error::make(ErrorCode::AlreadyExists, "a cell of that name is loaded (unload it first)");
        StagedCell staged = TRY(m_pushes.take_staged(name));
        auto loaded = m_backend.load_staged(staged);
        if (loaded.is_error())
            return with_backend_detail(loaded.release_error());  // the staged copy is gone: push again
        reply.load_cell = loaded.release_value();
        return reply;
    }
    auto loaded = m_backend.load_from_archive(name);
    if (loaded.is_error())
        return with_backend_detail(loaded.release_error());
    reply.load_cell = loaded.release_value();
    return reply;
}

ErrorOr<Reply> ChannelEngine::unload_cell(StringView name)
{
    Reply reply;
    reply.payload = Reply::Payload::UnloadCell;
    if (m_backend.is_loaded(name)) {
        if (auto unloaded = m_backend.unload(name); unloaded.is_error())
            return with_backend_detail(unloaded.release_error());
        return reply;
    }
    if (m_pushes.take_staged(name).is_error())
        return Error::make(ErrorCode::NotFound, "no loaded or staged cell with that name");
    return reply;
}

Reply ChannelEngine::list_cells() const
{
    Reply reply;
    reply.payload = Reply::Payload::ListCells;
    m_backend.describe_loaded_cells(reply.list_cells.cells);
    for (const StagedCell& cell : m_pushes.staged_cells())
        reply.list_cells.cells.append(describe_staged(cell));
    return reply;
}

Reply ChannelEngine::stats() const
{
    Reply reply;
    reply.payload = Reply::Payload::Stats;
    m_backend.fill_stats(reply.stats);
    return reply;
}

ErrorOr<Reply> ChannelEngine::handle(const HostMessage& request)
{
    Reply reply;
    switch (request.request) {
    case HostMessage::Request::Hello:
        return hello(request.hello);
    case HostMessage::Request::Ping:
        reply.payload = Reply::Payload::Ping;
        return reply;
    case HostMessage::Request::ListCells:
        return list_cells();
    case HostMessage::Request::PushBegin:
        reply.payload = Reply::Payload::PushBegin;
        reply.push_begin.push_id = TRY(m_pushes.begin(request.push_begin, m_backend.free_memory_bytes()));
        return reply;
    case HostMessage::Request::PushChunk:
        reply.payload = Reply::Payload::PushChunk;
        reply.push_chunk.received_bytes = TRY(m_pushes.append(request.push_chunk));
        return reply;
    case HostMessage::Request::PushCommit: {
        const StagedCell* staged = TRY(m_pushes.commit(request.push_commit.push_id));
        reply.payload = Reply::Payload::PushCommit;
        reply.push_commit.cell = describe_staged(*staged);
        return reply;
    }
    case HostMessage::Request::PushAbort:
        TRY(m_pushes.abort(request.push_abort.push_id));
        reply.payload = Reply::Payload::PushAbort;
        return reply;
    case HostMessage::Request::LoadCell:
        return load_cell(request.load_cell.name);
    case HostMessage::Request::UnloadCell:
        return unload_cell(request.unload_cell.name);
    case HostMessage::Request::Stats:
        return stats();
    case HostMessage::Request::None:
        break;
    }
    // The codec refuses requests it does not know; reaching here is a bug, said as one.
    return Error::make(ErrorCode::Internal, "request kind not handled");
}

} // namespace delos::control
