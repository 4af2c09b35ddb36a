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
    {
        SendGuard guard(m_writer);
        m_session_open = true;
        ++m_session_number;
    }
    Event event;
    event.kind = Event::Kind::Ready;
    event.ready.kernel_version = String(m_backend.kernel_version());
    event.ready.cells_loaded = m_backend.loaded_cell_count();
    event.ready.boot_ns = m_backend.boot_ns();
    event.ready.min_version = kProtocolVersionMin;
    event.ready.max_version = kProtocolVersionMax;
    event.ready.boot_id = String(m_backend.boot_id());
    send_event(static_cast<Event&&>(event));
}

void ChannelEngine::close_session()
{
    {
        SendGuard guard(m_writer);
        m_session_open = false;
    }
    m_decoder.reset();
    m_pushes.drop_open_pushes();
}

void ChannelEngine::send(const GuestMessage& message)
{
    Vector<std::uint8_t> frame;
    if (append_frame(frame, message).is_error())
        return;  // only replies can be too large, and send_reply answers those with an error
    SendGuard guard(m_writer);
    m_writer.write_frame(ByteView(frame.data(), frame.size()));
}

bool ChannelEngine::send_event(Event event)
{
    SendGuard guard(m_writer);
    return send_event_locked(static_cast<Event&&>(event));
}

bool ChannelEngine::send_event_locked(Event event)
{
    if (!m_session_open)
        return false;
    // Numbered and written in one step, so events leave in the order of their numbers.
    event.sequence = m_next_sequence++;
    if (event.uptime_ns == 0)
        event.uptime_ns = m_backend.uptime_ns();
    Vector<std::uint8_t> frame;
    if (append_frame(frame, GuestMessage::make_event(static_cast<Event&&>(event))).is_error())
        return false;
    m_writer.write_frame(ByteView(frame.data(), frame.size()));
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
    const HostMessage& message = request.value();
    ErrorOr<Reply> started = Reply();
    if (message.request == HostMessage::Request::LoadCell) {
        if (start_load(message.request_id, message.load_cell.name, started))
            return;  // the operation sends the reply
        send_reply(message.request_id, static_cast<ErrorOr<Reply>&&>(started));
        return;
    }
    if (message.request == HostMessage::Request::UnloadCell) {
        if (start_unload(message.request_id, message.unload_cell.name, started))
            return;
        send_reply(message.request_id, static_cast<ErrorOr<Reply>&&>(started));
        return;
    }
    auto reply = handle(message);
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
        SendGuard guard(m_writer);
        m_writer.write_frame(ByteView(frame.data(), frame.size()));
        return;
    }
    // The reason is the error's message and the detail it carries (symbol, section, cell).
    send(GuestMessage::make_error_reply(request_id, reply.error()));
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

bool ChannelEngine::start_load(std::uint64_t request_id, StringView name, ErrorOr<Reply>& reply)
{
    if (m_pushes.staged(name)) {
        // No replacement by load (that is SwapCells): the staged copy stays staged for a load
        // after an unload.
        if (m_backend.is_loaded(name)) {
            reply = Error::make(ErrorCode::AlreadyExists, "a cell of that name is loaded (swap it, or unload it first)");
            return false;
        }
        // Taken now: on failure the staged copy is gone (push again); the error names what was refused.
        auto taken = m_pushes.take_staged(name);
        if (taken.is_error()) {
            reply = taken.release_error();
            return false;
        }
        ControlBackend& backend = m_backend;
        return start_cell_operation(request_id, [&backend, staged = taken.release_value()]() mutable -> ErrorOr<Reply> {
            Reply loaded;
            loaded.payload = Reply::Payload::LoadCell;
            loaded.load_cell = TRY(backend.load_staged(staged));
            return loaded;
        }, reply);
    }
    ControlBackend& backend = m_backend;
    return start_cell_operation(request_id, [&backend, name = String(name)]() -> ErrorOr<Reply> {
        Reply loaded;
        loaded.payload = Reply::Payload::LoadCell;
        loaded.load_cell = TRY(backend.load_from_archive(name.view()));
        return loaded;
    }, reply);
}

bool ChannelEngine::start_unload(std::uint64_t request_id, StringView name, ErrorOr<Reply>& reply)
{
    Reply unloaded;
    unloaded.payload = Reply::Payload::UnloadCell;
    if (m_backend.is_loaded(name)) {
        ControlBackend& backend = m_backend;
        return start_cell_operation(request_id, [&backend, name = String(name)]() -> ErrorOr<Reply> {
            TRY(backend.unload(name.view()));
            Reply done;
            done.payload = Reply::Payload::UnloadCell;
            return done;
        }, reply);
    }
    if (m_pushes.take_staged(name).is_error())
        reply = Error::make(ErrorCode::NotFound, "no loaded or staged cell with that name");
    else
        reply = unloaded;
    return false;
}

bool ChannelEngine::start_cell_operation(std::uint64_t request_id, UniqueFunction<ErrorOr<Reply>()> operation,
                                         ErrorOr<Reply>& reply)
{
    std::uint64_t session = m_session_number;
    auto started = m_backend.run_cell_operation([this, session, request_id, operation = static_cast<UniqueFunction<ErrorOr<Reply>()>&&>(operation)]() mutable {
        ErrorOr<Reply> done = operation();
        forward_backend_events();  // what the cell logged while loading goes out before the reply
        finish_cell_operation(session, request_id, static_cast<ErrorOr<Reply>&&>(done));
    });
    if (started.is_error()) {
        reply = started.release_error();
        return false;
    }
    return true;
}

void ChannelEngine::finish_cell_operation(std::uint64_t session, std::uint64_t request_id, ErrorOr<Reply> reply)
{
    GuestMessage message = reply.is_error() ? GuestMessage::make_error_reply(request_id, reply.error())
                                            : GuestMessage::make_reply([&] {
                                                  Reply value = reply.release_value();
                                                  value.request_id = request_id;
                                                  return value;
                                              }());
    Vector<std::uint8_t> frame;
    if (auto encoded = append_frame(frame, message); encoded.is_error()) {
        frame.clear();
        if (append_frame(frame, GuestMessage::make_error_reply(request_id, encoded.error())).is_error())
            return;
    }
    SendGuard guard(m_writer);
    // A reply for a session that has ended is dropped: it must not reach the next client.
    if (!m_session_open || m_session_number != session)
        return;
    m_writer.write_frame(ByteView(frame.data(), frame.size()));
}

ErrorOr<Reply> ChannelEngine::swap_cells(const SwapCellsRequest& request)
{
    if (request.after_push_ref != 0)
        TRY(m_pushes.require_committed(request.after_push_ref));
    Vector<ControlBackend::SwapSource> sources;
    for (const SwapPair& pair : request.pairs) {
        StringView object_name = pair.new_object.empty() ? pair.old_cell.view() : pair.new_object.view();
        sources.append(ControlBackend::SwapSource{pair.old_cell.view(), object_name, m_pushes.staged(object_name)});
    }
    CellSwapped swapped = TRY(m_backend.swap_cells(sources));
    for (const ControlBackend::SwapSource& source : sources) {
        if (source.staged && m_pushes.staged(source.object_name))
            (void)m_pushes.take_staged(source.object_name);  // the system keeps its own copy now
    }
    swapped.rollback = false;
    announce_swap(swapped);
    Reply reply;
    reply.payload = Reply::Payload::SwapCells;
    reply.swap_cells.swapped = static_cast<CellSwapped&&>(swapped);
    return reply;
}

ErrorOr<Reply> ChannelEngine::rollback_cell(StringView name)
{
    CellSwapped swapped = TRY(m_backend.rollback_cell(name));
    swapped.rollback = true;
    announce_swap(swapped);
    Reply reply;
    reply.payload = Reply::Payload::RollbackCell;
    reply.rollback_cell.swapped = static_cast<CellSwapped&&>(swapped);
    return reply;
}

void ChannelEngine::announce_swap(const CellSwapped& swapped)
{
    // Every swap that took effect is also an event, for watchers other than the requester;
    // what the cells logged during it goes first.
    forward_backend_events();
    Event event;
    event.kind = Event::Kind::CellSwapped;
    event.cell_swapped = swapped;
    send_event(static_cast<Event&&>(event));
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
        reply.push_begin.push_id = TRY(m_pushes.begin(request.push_begin, m_backend.free_memory_bytes(), request.request_id));
        return reply;
    case HostMessage::Request::PushChunk:
        reply.payload = Reply::Payload::PushChunk;
        reply.push_chunk.received_bytes = TRY(m_pushes.append(request.push_chunk));
        return reply;
    case HostMessage::Request::PushCommit: {
        const StagedCell* staged = TRY(m_pushes.commit(request.push_commit.push_id, request.push_commit.push_ref));
        reply.payload = Reply::Payload::PushCommit;
        reply.push_commit.cell = describe_staged(*staged);
        return reply;
    }
    case HostMessage::Request::PushAbort:
        TRY(m_pushes.abort(request.push_abort.push_id));
        reply.payload = Reply::Payload::PushAbort;
        return reply;
    case HostMessage::Request::LoadCell:
    case HostMessage::Request::UnloadCell:
        break;  // started by answer(); their replies come from the cell operation
    case HostMessage::Request::Stats:
        return stats();
    case HostMessage::Request::SwapCells:
        return swap_cells(request.swap_cells);
    case HostMessage::Request::RollbackCell:
        return rollback_cell(request.rollback_cell.name);
    case HostMessage::Request::ListFaults:
        reply.payload = Reply::Payload::ListFaults;
        reply.list_faults = TRY(m_backend.list_recent_faults());
        return reply;
    case HostMessage::Request::SetRecoveryPolicy: {
        const SetRecoveryPolicyRequest& set = request.set_recovery_policy;
        reply.payload = Reply::Payload::SetRecoveryPolicy;
        reply.set_recovery_policy.policy = TRY(m_backend.set_recovery_policy(set.cell.view(), set.policy));
        reply.set_recovery_policy.cell = set.cell;
        return reply;
    }
    case HostMessage::Request::None:
        break;
    }
    // The codec refuses requests it does not know; reaching here is a bug, said as one.
    return Error::make(ErrorCode::Internal, "request kind not handled");
}

} // namespace delos::control
