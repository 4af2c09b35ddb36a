// control_agent.cpp: frames in, requests dispatched to the cell manager and the kernel's
// statistics, replies and events out. Nothing from the host is trusted: frames are bounded,
// messages validated by the codec, pushes checked by CellPushes, objects by the linker.
#include "control/control_agent.h"

#include "abi/channel_limits.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "control/cell_pushes.h"
#include "control/log_forwarder.h"
#include "log/kernel_log.h"
#include "drivers/virtio/control_port.h"
#include "platform/boot_facts.h"
#include "lib/link/loaded_cell.h"
#include "lib/proto/channel_codec.h"
#include "lib/proto/frame_decoder.h"
#include "loader/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "task/spawn.h"
#include "task/task_registry.h"

namespace delos::control {

namespace {

using namespace channel;

constexpr StringView kKernelVersion = "delos 0.1.0";
// How long the agent busy-polls for input before it sleeps (see Agent::run).
constexpr std::uint64_t kInputPollNs = 500'000;

class Agent {
public:
    explicit Agent(virtio::ControlPort port) : m_port(port) {}
    [[noreturn]] void run();

private:
    void on_new_connection();
    void answer(ByteView payload);
    ErrorOr<Reply> handle(const HostMessage&);
    ErrorOr<Reply> load_cell(StringView name);
    ErrorOr<Reply> unload_cell(StringView name);
    Reply list_cells();
    Reply stats();
    void send(const GuestMessage&);
    void send_event(Event event);
    void forward_log_lines();
    Error with_linker_detail(Error error);

    virtio::ControlPort m_port;
    FrameDecoder m_decoder;
    CellPushes m_pushes;
    std::uint64_t m_connection = 0;
    std::uint64_t m_next_sequence = 1;
    String m_failure_detail;  // the linker's names for the last refusal, kept for the reply
};

CellInfo describe_loaded(const link::LoadedCell& cell)
{
    CellInfo info;
    info.name = String(cell.name());
    info.version = String(cell.version());
    info.state = CellState::Loaded;
    info.generation = 1;
    info.section_count = static_cast<std::uint32_t>(cell.sections().size());
    info.text_bytes = cell.region(link::SectionKind::Text).size;
    info.rodata_bytes = cell.region(link::SectionKind::ReadOnly).size;
    info.data_bytes = cell.region(link::SectionKind::Data).size;
    for (const link::LoadedCell* used : cell.cells_used())
        info.dependencies.append(String(used->name()));
    return info;
}

CellInfo describe_staged(const StagedCell& cell)
{
    CellInfo info;
    info.name = cell.name;
    info.version = cell.version;
    info.state = CellState::Staged;
    info.object_bytes = cell.bytes.size();
    info.sha256 = cell.sha256;
    info.has_sha256 = true;
    return info;
}

void Agent::send(const GuestMessage& message)
{
    Vector<std::uint8_t> frame;
    if (auto encoded = append_frame(frame, message); encoded.is_error()) {
        kprint("control: cannot encode a message: {}\n", encoded.error().message);
        return;
    }
    if (!m_port.connected())
        return;  // the host went away; it learns nothing more of this connection
    if (auto written = m_port.write(ByteView(frame.data(), frame.size())); written.is_error())
        return;  // a disconnect mid-write: the next connection starts afresh
}

void Agent::send_event(Event event)
{
    event.sequence = m_next_sequence++;
    event.uptime_ns = tsc::nanoseconds_since_boot();
    send(GuestMessage::make_event(static_cast<Event&&>(event)));
}

void Agent::on_new_connection()
{
    m_decoder.reset();
    m_pushes.drop_open_pushes();  // a push interrupted by a disconnect is dropped, nothing else
    Event event;
    event.kind = Event::Kind::Ready;
    event.ready.kernel_version = String(kKernelVersion);
    event.ready.cells_loaded = static_cast<std::uint32_t>(loader::cell_manager().cell_namespace().cells().size());
    event.ready.boot_ns = platform::boot_ns();
    event.ready.min_version = kProtocolVersionMin;
    event.ready.max_version = kProtocolVersionMax;
    send_event(static_cast<Event&&>(event));
}

Error Agent::with_linker_detail(Error error)
{
    m_failure_detail = String(loader::cell_manager().last_failure());
    return error;
}

ErrorOr<Reply> Agent::load_cell(StringView name)
{
    Reply reply;
    reply.payload = Reply::Payload::LoadCell;
    std::size_t before = loader::cell_manager().cell_namespace().cells().size();
    link::LoadedCell* loaded = nullptr;
    if (m_pushes.staged(name)) {
        if (loader::cell_manager().cell_namespace().find_cell(name))
            return Error::make(ErrorCode::AlreadyExists, "a cell of that name is loaded (unload it first)");
        StagedCell staged = TRY(m_pushes.take_staged(name));
        auto linked = loader::cell_manager().load_object(ByteView(staged.bytes.data(), staged.bytes.size()));
        if (linked.is_error())
            return with_linker_detail(linked.release_error());  // the staged copy is gone: push again
        loaded = linked.value();
    } else {
        auto linked = loader::cell_manager().load(name);
        if (linked.is_error())
            return with_linker_detail(linked.release_error());
        loaded = linked.value();
    }
    reply.load_cell.cell = describe_loaded(*loaded);
    const auto& cells = loader::cell_manager().cell_namespace().cells();
    for (std::size_t i = before; i < cells.size(); ++i) {
        if (cells[i].get() != loaded)
            reply.load_cell.also_loaded.append(String(cells[i]->name()));
    }
    return reply;
}

ErrorOr<Reply> Agent::unload_cell(StringView name)
{
    Reply reply;
    reply.payload = Reply::Payload::UnloadCell;
    if (loader::cell_manager().cell_namespace().find_cell(name)) {
        if (auto unloaded = loader::cell_manager().unload(name); unloaded.is_error())
            return with_linker_detail(unloaded.release_error());
        return reply;
    }
    if (m_pushes.take_staged(name).is_error())
        return Error::make(ErrorCode::NotFound, "no loaded or staged cell with that name");
    return reply;
}

Reply Agent::list_cells()
{
    Reply reply;
    reply.payload = Reply::Payload::ListCells;
    for (const auto& cell : loader::cell_manager().cell_namespace().cells())
        reply.list_cells.cells.append(describe_loaded(*cell));
    for (const StagedCell& cell : m_pushes.staged_cells())
        reply.list_cells.cells.append(describe_staged(cell));
    return reply;
}

Reply Agent::stats()
{
    Reply reply;
    reply.payload = Reply::Payload::Stats;
    StatsReply& stats = reply.stats;
    auto& frames = memory::frame_allocator();
    auto heap = memory::heap_statistics();
    stats.frames_total = frames.total_frames();
    stats.frames_free = frames.free_frames();
    stats.memory_total_bytes = platform::boot_info().ram_end();
    stats.memory_free_bytes = frames.free_frames() * memory::kPageSize;
    stats.heap_used_bytes = heap.bytes_in_use;
    stats.heap_capacity_bytes = heap.pages_held * memory::kPageSize;
    stats.task_count = static_cast<std::uint32_t>(task::registry::live_count());
    stats.uptime_ns = tsc::nanoseconds_since_boot();
    stats.cell_count = static_cast<std::uint32_t>(loader::cell_manager().cell_namespace().cells().size());
    return reply;
}

ErrorOr<Reply> Agent::handle(const HostMessage& request)
{
    Reply reply;
    switch (request.request) {
    case HostMessage::Request::Hello:
        reply.payload = Reply::Payload::Hello;
        reply.hello.version = TRY(negotiate_version(request.hello));
        reply.hello.kernel_version = String(kKernelVersion);
        reply.hello.max_frame_bytes = kMaxFrameBytes;
        reply.hello.max_chunk_bytes = kMaxChunkBytes;
        return reply;
    case HostMessage::Request::Ping:
        reply.payload = Reply::Payload::Ping;
        return reply;
    case HostMessage::Request::ListCells:
        return list_cells();
    case HostMessage::Request::PushBegin:
        reply.payload = Reply::Payload::PushBegin;
        reply.push_begin.push_id = TRY(m_pushes.begin(request.push_begin));
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
    return Error::make(ErrorCode::Unsupported, "request not understood by this guest");
}

void Agent::answer(ByteView payload)
{
    auto request = decode_host_message(payload);
    if (request.is_error()) {
        // A bad frame costs its sender one error reply; the session goes on.
        send(GuestMessage::make_error_reply(peek_request_id(payload), request.error()));
        return;
    }
    m_failure_detail.clear();
    auto reply = handle(request.value());
    forward_log_lines();  // what the request made cells log goes out before its reply
    if (reply.is_error()) {
        GuestMessage message = GuestMessage::make_error_reply(request->request_id, reply.error());
        if (!m_failure_detail.empty()) {
            // The exact reason: the error's message plus the names the linker gave.
            message.reply.status.reason.append(": ");
            message.reply.status.reason.append(m_failure_detail.view());
        }
        send(message);
        return;
    }
    reply.value().request_id = request->request_id;
    send(GuestMessage::make_reply(reply.release_value()));
}

void Agent::forward_log_lines()
{
    LogLine line;
    while (take_log_line(line)) {
        if (!m_port.connected())
            continue;  // nobody to tell; the console still has it
        Event event;
        event.kind = Event::Kind::LogLine;
        event.log_line = static_cast<LogLine&&>(line);
        send_event(static_cast<Event&&>(event));
    }
}

void Agent::run()
{
    static std::uint8_t buffer[64 * 1024];
    for (;;) {
        forward_log_lines();
        // read() polls the device (PORT_OPEN included); the connection state it leaves is then
        // read without another lock round (each is a cli/sti pair: two traps under kvm_pvm).
        auto received = m_port.read(buffer, sizeof buffer);
        if (received.is_error()) {
            kprint("control: the control port failed: {}\n", received.error().message);
            m_port.wait_for_activity();
            continue;
        }
        auto state = m_port.connection_state();
        if (state.open && state.number != m_connection) {
            m_connection = state.number;
            on_new_connection();
        }
        if (received.value().bytes == 0) {
            // A host that just got a reply usually sends again within tens of microseconds:
            // polling for that long costs less than an interrupt (two ~32 us register exits
            // under kvm_pvm), and a quiet channel sleeps after it as before.
            m_port.wait_for_input(kInputPollNs);
            continue;
        }
        if (received.value().connection != m_connection) {
            // The peer changed between the check above and this read: these bytes start its framing.
            m_connection = received.value().connection;
            on_new_connection();
        }
        ByteView input(buffer, received.value().bytes);
        for (;;) {
            FrameEvent event = m_decoder.next(input);
            if (event.kind == FrameEvent::Kind::NeedMoreBytes)
                break;
            if (event.kind == FrameEvent::Kind::Oversized)
                send(GuestMessage::make_error_reply(peek_request_id(event.payload), event.error));
            else
                answer(event.payload);
        }
    }
}

} // namespace

void serve_control_channel()
{
    auto port = virtio::ControlPort::open();
    if (port.is_error()) {
        kprint("control: no control port: {}\n", port.error().message);
        for (;;)
            cpu::enable_interrupts_and_halt();
    }
    kprint("control: serving the channel on {}\n", virtio::kControlPortName);
    Agent agent(port.release_value());
    agent.run();
}

ErrorOr<void> start_control_agent()
{
    start_log_capture();
    auto handle = TRY(task::spawn("control-agent", [] { serve_control_channel(); }));
    handle.detach();
    return {};
}

} // namespace delos::control
