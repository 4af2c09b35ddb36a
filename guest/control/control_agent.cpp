// control_agent.cpp: frames in, requests dispatched to the cell manager and the kernel's
// statistics, replies and events out. Nothing from the host is trusted: frames are bounded,
// messages validated by the codec, pushes checked by CellPushes, objects by the linker.
#include "control/control_agent.h"

#include "abi/channel_limits.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "control/cell_pushes.h"
#include "control/cell_recovery_info.h"
#include "control/fault_reports.h"
#include "control/log_forwarder.h"
#include "log/kernel_log.h"
#include "control/control_port.h"
#include "platform/boot_facts.h"
#include "lib/core/format.h"
#include "lib/proto/channel_codec.h"
#include "lib/proto/frame_decoder.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "task/mutex.h"
#include "task/scheduler.h"
#include "task/spawn.h"
#include "task/task.h"
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
    // Loads and unloads run in a task of their own (a cell's init may sleep or wait), so the
    // agent keeps answering meanwhile; that task sends the reply. An answer that needs no cell
    // manager call (a refusal, a staged cell dropped) comes back here at once.
    struct CellOperation {
        enum class Kind : std::uint8_t { Load, LoadObject, Unload } kind = Kind::Load;
        String name;
        Vector<std::uint8_t> object;
    };
    struct PreparedOperation {
        bool immediate = false;
        Reply reply;
        CellOperation operation;
    };
    ErrorOr<PreparedOperation> prepare_load(StringView name);
    ErrorOr<PreparedOperation> prepare_unload(StringView name);
    void start_cell_operation(std::uint64_t request_id, CellOperation operation);
    static ErrorOr<Reply> perform(CellOperation& operation);
    void send_reply(std::uint64_t request_id, ErrorOr<Reply>& reply);
    ErrorOr<Reply> swap_cells(const SwapCellsRequest& request);
    ErrorOr<Reply> rollback_cell(StringView name);
    void report_swap(const link::SwapReport& report, bool rollback, CellSwapped& out);
    Reply list_cells();
    Reply stats();
    void send(const GuestMessage&);
    void send_event(Event event);
    void forward_log_lines();
    // Contained faults (the fault log) as FaultReport events, each once, in order.
    void forward_faults();

    virtio::ControlPort m_port;
    FrameDecoder m_decoder;
    CellPushes m_pushes;
    std::uint64_t m_connection = 0;
    std::uint64_t m_next_sequence = 1;   // guarded by m_send_lock
    std::uint64_t m_faults_forwarded = 0;  // the last fault sequence sent (claimed atomically)
    task::Mutex m_send_lock;              // the agent and its cell-operation tasks both send
};

CellInfo describe_loaded(const loader::CellSummary& cell)
{
    CellInfo info;
    info.name = cell.name;
    info.version = cell.version;
    // Loading and unloading happen under the manager's lock, which queries wait for: a cell
    // the agent sees is loaded (Retiring arrives with live evolution).
    info.state = cell.state == loader::CellState::Unloading ? CellState::Retiring : CellState::Loaded;
    info.generation = cell.generation;
    info.section_count = cell.section_count;
    info.text_bytes = cell.text_bytes;
    info.rodata_bytes = cell.rodata_bytes;
    info.data_bytes = cell.data_bytes;
    info.dependencies = cell.dependencies;
    info.task_count = cell.task_count;
    info.cell_id = cell.id;
    if (info.state == CellState::Loaded)
        describe_recovery(cell.name.view(), info);
    return info;
}

// Live tasks grouped by the cell they run in: the kernel's first, then the cells in order.
Vector<CellTasks> tasks_by_cell(const Vector<loader::CellSummary>& cells)
{
    struct Row {
        task::CellId cell;
        char name[task::kTaskNameLength];
    };
    // Copied out under the registry lock (it masks interrupts), grouped afterwards.
    constexpr std::size_t kMaxRows = 256;
    static Row rows[kMaxRows];
    std::size_t count = 0;
    task::registry::for_each([&](task::Task& task) {
        if (count == kMaxRows)
            return;
        rows[count].cell = task.cell();
        __builtin_memcpy(rows[count].name, task.name(), task::kTaskNameLength);
        ++count;
    });
    Vector<CellTasks> groups;
    auto group_for = [&](task::CellId cell, StringView name) {
        CellTasks group;
        group.cell_id = cell;
        group.cell = String(name);
        for (std::size_t i = 0; i < count; ++i) {
            if (rows[i].cell != cell)
                continue;
            ++group.task_count;
            if (group.task_names.size() < kMaxListedTaskNames)
                group.task_names.append(String(StringView(rows[i].name)));
        }
        if (cell == task::kKernelCell || group.task_count > 0)
            groups.append(static_cast<CellTasks&&>(group));
    };
    group_for(task::kKernelCell, StringView());
    for (const loader::CellSummary& cell : cells)
        group_for(cell.id, cell.name.view());
    return groups;
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
    task::MutexGuard guard(m_send_lock);
    if (!m_port.connected())
        return;  // the host went away; it learns nothing more of this connection
    // Only to the connection whose bytes the decoder holds: a reply to a request of a session
    // that has ended must not reach the next client.
    if (auto written = m_port.write(ByteView(frame.data(), frame.size()), m_connection); written.is_error())
        return;  // a disconnect mid-write, or a newer peer: the next connection starts afresh
}

void Agent::send_event(Event event)
{
    {
        // Numbered and sent in one step, so events leave in the order of their numbers.
        task::MutexGuard guard(m_send_lock);
        event.sequence = m_next_sequence++;
    }
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
    event.ready.cells_loaded = static_cast<std::uint32_t>(loader::cell_manager().cell_count());
    event.ready.boot_ns = platform::boot_ns();
    event.ready.min_version = kProtocolVersionMin;
    event.ready.max_version = kProtocolVersionMax;
    send_event(static_cast<Event&&>(event));
}

ErrorOr<Agent::PreparedOperation> Agent::prepare_load(StringView name)
{
    PreparedOperation prepared;
    prepared.operation.name = String(name);
    if (m_pushes.staged(name)) {
        if (loader::cell_manager().is_loaded(name))
            return Error::make(ErrorCode::AlreadyExists, "a cell of that name is loaded (swap it, or unload it first)");
        // Taken now: on failure the staged copy is gone (push again); the error names what was refused.
        StagedCell staged = TRY(m_pushes.take_staged(name));
        prepared.operation.kind = CellOperation::Kind::LoadObject;
        prepared.operation.object = static_cast<Vector<std::uint8_t>&&>(staged.bytes);
    } else {
        prepared.operation.kind = CellOperation::Kind::Load;
    }
    return prepared;
}

ErrorOr<Agent::PreparedOperation> Agent::prepare_unload(StringView name)
{
    PreparedOperation prepared;
    if (loader::cell_manager().is_loaded(name)) {
        prepared.operation.kind = CellOperation::Kind::Unload;
        prepared.operation.name = String(name);
        return prepared;
    }
    if (m_pushes.take_staged(name).is_error())
        return Error::make(ErrorCode::NotFound, "no loaded or staged cell with that name");
    prepared.immediate = true;
    prepared.reply.payload = Reply::Payload::UnloadCell;
    return prepared;
}

ErrorOr<Reply> Agent::perform(CellOperation& operation)
{
    Reply reply;
    if (operation.kind == CellOperation::Kind::Unload) {
        reply.payload = Reply::Payload::UnloadCell;
        TRY(loader::cell_manager().unload(operation.name.view()));
        return reply;
    }
    reply.payload = Reply::Payload::LoadCell;
    loader::LoadResult loaded = operation.kind == CellOperation::Kind::LoadObject
        ? TRY(loader::cell_manager().load_object(ByteView(operation.object.data(), operation.object.size())))
        : TRY(loader::cell_manager().load(operation.name.view()));
    reply.load_cell.cell = describe_loaded(loaded.cell);
    reply.load_cell.also_loaded = static_cast<Vector<String>&&>(loaded.also_loaded);
    return reply;
}

void Agent::start_cell_operation(std::uint64_t request_id, CellOperation operation)
{
    std::uint64_t connection = m_connection;
    auto worker = task::spawn("control-cells", [this, request_id, connection, operation = static_cast<CellOperation&&>(operation)]() mutable {
        ErrorOr<Reply> reply = perform(operation);
        forward_log_lines();  // what the cell logged while loading goes out before the reply
        forward_faults();     // and a fault in its constructors or init
        if (__atomic_load_n(&m_connection, __ATOMIC_RELAXED) == connection)  // a reply for a connection that went away is dropped
            send_reply(request_id, reply);
    });
    if (worker.is_error()) {
        kprint("control: no task for a cell operation ({}); the reply says so\n", worker.error().message);
        ErrorOr<Reply> refused = worker.release_error();
        send_reply(request_id, refused);
        return;
    }
    worker.value().detach();
}

void Agent::send_reply(std::uint64_t request_id, ErrorOr<Reply>& reply)
{
    if (reply.is_error()) {
        // The reason is the error's message and the detail it carries (symbol, section, cell).
        send(GuestMessage::make_error_reply(request_id, reply.error()));
        return;
    }
    reply.value().request_id = request_id;
    send(GuestMessage::make_reply(reply.release_value()));
}

ErrorOr<Reply> Agent::swap_cells(const SwapCellsRequest& request)
{
    // The new objects: staged pushes (kept staged until the swap succeeds) or boot-archive versions.
    Vector<link::SwapPair> pairs;
    for (const SwapPair& pair : request.pairs) {
        StringView object_name = pair.new_object.empty() ? pair.old_cell.view() : pair.new_object.view();
        ByteView object;
        bool persistent = false;
        if (StagedCell* staged = m_pushes.staged(object_name)) {
            object = ByteView(staged->bytes.data(), staged->bytes.size());
        } else if (const link::CellLibrary* library = loader::cell_manager().library();
                   library && library->find_version(object_name)) {
            object = library->find_version(object_name)->object;
            persistent = true;  // the boot archive stays in memory
        } else {
            return Error::make(ErrorCode::NotFound, "no staged cell or archived version for the new object")
                .with_detail(format("no staged cell and no boot-archive version is called {} (push it first)", object_name));
        }
        pairs.append(link::SwapPair{pair.old_cell.view(), object, persistent});
    }
    auto swapped = loader::cell_manager().swap(pairs);
    if (swapped.is_error())
        return swapped.release_error();
    for (const SwapPair& pair : request.pairs) {
        StringView object_name = pair.new_object.empty() ? pair.old_cell.view() : pair.new_object.view();
        if (m_pushes.staged(object_name))
            (void)m_pushes.take_staged(object_name);  // the guest keeps its own copy now
    }
    Reply reply;
    reply.payload = Reply::Payload::SwapCells;
    report_swap(swapped.value(), false, reply.swap_cells.swapped);
    return reply;
}

ErrorOr<Reply> Agent::rollback_cell(StringView name)
{
    auto swapped = loader::cell_manager().rollback(name);
    if (swapped.is_error())
        return swapped.release_error();
    Reply reply;
    reply.payload = Reply::Payload::RollbackCell;
    report_swap(swapped.value(), true, reply.rollback_cell.swapped);
    return reply;
}

void Agent::report_swap(const link::SwapReport& report, bool rollback, CellSwapped& out)
{
    for (const link::SwappedCell& cell : report.cells) {
        SwappedCell swapped;
        swapped.name = cell.name;
        swapped.old_version = cell.old_version;
        swapped.new_version = cell.new_version;
        swapped.old_generation = cell.old_generation;
        swapped.new_generation = cell.new_generation;
        swapped.state_layout = cell.state_layout;
        out.cells.append(static_cast<SwappedCell&&>(swapped));
    }
    using link::SwapStage;
    out.timing.load_ns = report.stage_ns[static_cast<int>(SwapStage::Load)];
    out.timing.link_ns = report.stage_ns[static_cast<int>(SwapStage::Link)];
    out.timing.verify_ns = report.stage_ns[static_cast<int>(SwapStage::Verify)];
    out.timing.transfer_ns = report.stage_ns[static_cast<int>(SwapStage::Transfer)];
    out.timing.repoint_ns = report.stage_ns[static_cast<int>(SwapStage::Repoint)];
    out.timing.cleanup_ns = report.stage_ns[static_cast<int>(SwapStage::Cleanup)];
    out.timing.total_ns = report.total_ns;
    out.relocations_repointed = report.relocations_repointed;
    out.retiring_cells = static_cast<std::uint32_t>(loader::cell_manager().retiring_cells().size());
    for (const String& name : report.also_loaded)
        out.also_loaded.append(name);
    out.rollback = rollback;
    // Every swap that took effect is also an event, for watchers other than the requester.
    forward_log_lines();
    Event event;
    event.kind = Event::Kind::CellSwapped;
    event.cell_swapped = out;
    send_event(static_cast<Event&&>(event));
}

Reply Agent::list_cells()
{
    Reply reply;
    reply.payload = Reply::Payload::ListCells;
    loader::cell_manager().collect_retired();
    for (const loader::CellSummary& cell : loader::cell_manager().cells())
        reply.list_cells.cells.append(describe_loaded(cell));
    for (const loader::CellSummary& cell : loader::cell_manager().retiring_cells()) {
        CellInfo info = describe_loaded(cell);
        info.state = CellState::Retiring;
        reply.list_cells.cells.append(static_cast<CellInfo&&>(info));
    }
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
    Vector<loader::CellSummary> cells = loader::cell_manager().cells();
    stats.cell_count = static_cast<std::uint32_t>(cells.size());
    stats.tasks_by_cell = tasks_by_cell(cells);
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
    case HostMessage::Request::UnloadCell:
        break;  // answered by answer() through a cell-operation task
    case HostMessage::Request::Stats:
        return stats();
    case HostMessage::Request::SwapCells:
        return swap_cells(request.swap_cells);
    case HostMessage::Request::RollbackCell:
        return rollback_cell(request.rollback_cell.name);
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
    const HostMessage& message = request.value();
    if (message.request == HostMessage::Request::LoadCell || message.request == HostMessage::Request::UnloadCell) {
        auto prepared = message.request == HostMessage::Request::LoadCell ? prepare_load(message.load_cell.name)
                                                                          : prepare_unload(message.unload_cell.name);
        if (prepared.is_error() || prepared.value().immediate) {
            ErrorOr<Reply> reply = prepared.is_error() ? ErrorOr<Reply>(prepared.release_error())
                                                       : ErrorOr<Reply>(static_cast<Reply&&>(prepared.value().reply));
            send_reply(message.request_id, reply);
            return;
        }
        start_cell_operation(message.request_id, static_cast<CellOperation&&>(prepared.value().operation));
        return;
    }
    auto reply = handle(message);
    forward_log_lines();  // what the request made cells log goes out before its reply
    send_reply(message.request_id, reply);
}

void Agent::forward_faults()
{
    task::FaultLogEntry entry;  // ~1.7 KiB of the task's 16 KiB stack
    for (;;) {
        std::uint64_t after = __atomic_load_n(&m_faults_forwarded, __ATOMIC_ACQUIRE);
        if (!task::copy_fault_after(after, entry))
            return;
        // The agent and its cell-operation tasks both forward: whoever claims a fault sends it.
        if (!__atomic_compare_exchange_n(&m_faults_forwarded, &after, entry.sequence, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            continue;
        if (!m_port.connected())
            continue;  // nobody to tell; the console has the report and the ring keeps it
        Event event;
        event.kind = Event::Kind::FaultReport;
        event.fault_report = fault_report_of(entry);
        send_event(static_cast<Event&&>(event));
    }
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
        forward_faults();
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
        // Off the CPU for good (halting here would keep this task running through others' time).
        for (;;)
            task::scheduler::sleep_for(3'600'000'000'000ull);
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
