// fake_guest.cpp: the fake control agent: socket loop, frame decoding with the guest's
// FrameDecoder, and request handling with the guest's error values as replies.
#include "fake_guest.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "abi/channel_limits.h"
#include "linker/cell_identity.h"
#include "linker/relocatable_object.h"
#include "lib/proto/channel_codec.h"
#include "lib/proto/frame_decoder.h"

namespace delos::chan {

using namespace delos::channel;

namespace {

std::uint64_t now_ns()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

String to_string(const std::string& text) { return String(StringView(text.data(), text.size())); }
std::string from_string(const String& text) { return std::string(text.data(), text.size()); }

void write_all(int fd, const std::uint8_t* data, std::size_t size)
{
    while (size > 0) {
        ssize_t written = ::send(fd, data, size, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return;  // the host went away; the read side notices and ends the connection
        }
        data += written;
        size -= static_cast<std::size_t>(written);
    }
}

} // namespace

FakeGuest::FakeGuest(std::string socket_path, Options options)
    : m_socket_path(std::move(socket_path)), m_options(std::move(options)), m_started_ns(now_ns())
{
    if (m_options.boot_cells) {
        Cell log;
        log.name = "log";
        log.version = "1.0.0";
        log.state = CellState::Loaded;
        log.generation = 1;
        log.section_count = 14;
        log.text_bytes = 2048;
        log.rodata_bytes = 256;
        log.data_bytes = 64;
        log.bss_bytes = 4096;
        log.object_bytes = 9000;
        m_cells.push_back(log);
        Cell kv = log;
        kv.name = "kv";
        kv.version = "1.2.0";
        kv.section_count = 30;
        kv.text_bytes = 6000;
        kv.dependencies = {"log"};
        m_cells.push_back(kv);
    }

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (m_socket_path.size() >= sizeof(address.sun_path))
        throw std::runtime_error("socket path is too long: " + m_socket_path);
    std::memcpy(address.sun_path, m_socket_path.c_str(), m_socket_path.size() + 1);
    ::unlink(m_socket_path.c_str());
    m_listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_listen_fd < 0 || ::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0
        || ::listen(m_listen_fd, 4) != 0 || ::pipe2(m_wake_pipe, O_CLOEXEC) != 0) {
        std::string reason = std::strerror(errno);
        if (m_listen_fd >= 0)
            ::close(m_listen_fd);
        throw std::runtime_error("cannot listen on " + m_socket_path + ": " + reason);
    }
    m_thread = std::thread([this] { serve(); });
}

FakeGuest::~FakeGuest()
{
    char wake = 1;
    [[maybe_unused]] ssize_t ignored = ::write(m_wake_pipe[1], &wake, 1);
    if (m_thread.joinable())
        m_thread.join();
    ::close(m_listen_fd);
    ::close(m_wake_pipe[0]);
    ::close(m_wake_pipe[1]);
    ::unlink(m_socket_path.c_str());
}

bool FakeGuest::wait_connected(int timeout_ms) const
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!m_connected) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

void FakeGuest::serve()
{
    for (;;) {
        pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {m_wake_pipe[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents)
            return;
        int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_connection(fd);
    }
}

void FakeGuest::serve_connection(int fd)
{
    ++m_connections;
    {
        std::lock_guard<std::mutex> lock(m_write_mutex);
        m_connection_fd = fd;
    }
    // A new connection is a new session: nothing of the last one's unfinished pushes survives.
    m_pushes.clear();
    FrameDecoder decoder;
    send_ready();
    m_connected = true;

    std::vector<std::uint8_t> buffer(kMaxChunkBytes + 4096);
    for (;;) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {m_wake_pipe[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents)
            break;
        ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;  // the host disconnected (perhaps mid-push: that push is simply dropped)
        ByteView input(buffer.data(), static_cast<std::size_t>(got));
        for (;;) {
            FrameEvent event = decoder.next(input);
            if (event.kind == FrameEvent::Kind::NeedMoreBytes)
                break;
            ++m_frames_answered;  // before the reply, so a host that has the reply sees the count
            if (event.kind == FrameEvent::Kind::Oversized)
                send(GuestMessage::make_error_reply(peek_request_id(event.payload), event.error));
            else
                answer_frame(event.payload);
        }
    }
    m_connected = false;
    m_pushes.clear();
    std::lock_guard<std::mutex> lock(m_write_mutex);
    m_connection_fd = -1;
    ::close(fd);
}

void FakeGuest::send(const GuestMessage& message)
{
    Vector<std::uint8_t> frame;
    if (append_frame(frame, message).is_error())
        return;  // cannot happen with what this fake sends; a real agent would log it
    std::lock_guard<std::mutex> lock(m_write_mutex);
    if (m_connection_fd >= 0)
        write_all(m_connection_fd, frame.data(), frame.size());
}

bool FakeGuest::emit(Event event)
{
    GuestMessage message;
    {
        std::lock_guard<std::mutex> lock(m_write_mutex);
        if (m_connection_fd < 0)
            return false;
        event.sequence = m_next_sequence++;
    }
    if (event.uptime_ns == 0)
        event.uptime_ns = now_ns() - m_started_ns;
    send(GuestMessage::make_event(std::move(event)));
    return true;
}

bool FakeGuest::emit_log(const std::string& cell, LogLevel level, const std::string& text)
{
    Event event;
    event.kind = Event::Kind::LogLine;
    event.log_line.cell = to_string(cell);
    event.log_line.level = level;
    event.log_line.text = to_string(text);
    event.log_line.timestamp_ns = now_ns() - m_started_ns;
    return emit(std::move(event));
}

constexpr const char* kFakeBootId = "fa6efa6efa6efa6efa6efa6efa6efa6e";

bool FakeGuest::emit_fault(FaultReport report)
{
    {
        std::lock_guard lock(m_faults_mutex);
        ++m_faults_recorded;
        if (report.fault_sequence == 0)
            report.fault_sequence = m_faults_recorded;
        if (report.boot_id.empty())
            report.boot_id = String(StringView(kFakeBootId));
        m_faults.push_back(report);
        if (m_faults.size() > 16)
            m_faults.erase(m_faults.begin());
    }
    Event event;
    event.kind = Event::Kind::FaultReport;
    event.fault_report = std::move(report);
    return emit(std::move(event));
}

void FakeGuest::send_ready()
{
    Event event;
    event.kind = Event::Kind::Ready;
    event.ready.kernel_version = to_string(m_options.kernel_version);
    event.ready.boot_ns = 1'500'000;
    event.ready.min_version = kProtocolVersionMin;
    event.ready.max_version = kProtocolVersionMax;
    for (const Cell& cell : m_cells)
        event.ready.cells_loaded += cell.state == CellState::Loaded;
    emit(std::move(event));
}

void FakeGuest::answer_frame(ByteView payload)
{
    auto request = decode_host_message(payload);
    if (request.is_error()) {
        // A bad frame costs its sender one error reply; the session goes on.
        send(GuestMessage::make_error_reply(peek_request_id(payload), request.error()));
        return;
    }
    send(handle(request.value()));
}

GuestMessage FakeGuest::handle(const HostMessage& request)
{
    auto reply = handle_request(request);
    if (reply.is_error())
        return GuestMessage::make_error_reply(request.request_id, reply.error());
    reply.value().request_id = request.request_id;
    return GuestMessage::make_reply(reply.release_value());
}

ErrorOr<Reply> FakeGuest::handle_request(const HostMessage& request)
{
    Reply reply;
    switch (request.request) {
    case HostMessage::Request::Hello: {
        std::uint32_t version = TRY(negotiate_version(request.hello));
        m_pushes.clear();
        reply.payload = Reply::Payload::Hello;
        reply.hello.version = version;
        reply.hello.kernel_version = to_string(m_options.kernel_version);
        reply.hello.max_frame_bytes = kMaxFrameBytes;
        reply.hello.max_chunk_bytes = kMaxChunkBytes;
        return reply;
    }
    case HostMessage::Request::Ping:
        reply.payload = Reply::Payload::Ping;
        return reply;
    case HostMessage::Request::ListCells:
        reply.payload = Reply::Payload::ListCells;
        for (const Cell& cell : m_cells)
            reply.list_cells.cells.append(describe(cell));
        return reply;
    case HostMessage::Request::PushBegin:
        return push_begin(request.push_begin);
    case HostMessage::Request::PushChunk:
        return push_chunk(request.push_chunk);
    case HostMessage::Request::PushCommit:
        return push_commit(request.push_commit);
    case HostMessage::Request::PushAbort:
        if (m_pushes.erase(request.push_abort.push_id) == 0)
            return Error::make(ErrorCode::NotFound, "no such push", request.push_abort.push_id);
        reply.payload = Reply::Payload::PushAbort;
        return reply;
    case HostMessage::Request::LoadCell:
        return load_cell(from_string(request.load_cell.name));
    case HostMessage::Request::UnloadCell:
        return unload_cell(from_string(request.unload_cell.name));
    case HostMessage::Request::SwapCells:
        return swap_cells(request.swap_cells, false);
    case HostMessage::Request::RollbackCell: {
        SwapCellsRequest rollback;
        rollback.pairs.append(SwapPair{request.rollback_cell.name, String()});
        return swap_cells(rollback, true);
    }
    case HostMessage::Request::Stats: {
        reply.payload = Reply::Payload::Stats;
        StatsReply& stats = reply.stats;
        stats.memory_total_bytes = 256ull << 20;
        stats.frames_total = stats.memory_total_bytes / 4096;
        stats.memory_free_bytes = 200ull << 20;
        stats.frames_free = stats.memory_free_bytes / 4096;
        stats.heap_capacity_bytes = 16ull << 20;
        stats.heap_used_bytes = 1ull << 20;
        for (const auto& [id, push] : m_pushes)
            stats.heap_used_bytes += push.bytes.capacity();
        stats.task_count = 3;
        CellTasks kernel_tasks;  // the real guest groups its tasks by cell; the kernel's come first
        kernel_tasks.task_count = 3;
        for (const char* name : {"kernel_main", "idle", "control-agent"})
            kernel_tasks.task_names.append(String(name));
        stats.tasks_by_cell.append(std::move(kernel_tasks));
        stats.uptime_ns = now_ns() - m_started_ns;
        for (const Cell& cell : m_cells)
            stats.cell_count += cell.state == CellState::Loaded;
        return reply;
    }
    case HostMessage::Request::ListFaults: {
        std::lock_guard lock(m_faults_mutex);
        reply.payload = Reply::Payload::ListFaults;
        reply.list_faults.boot_id = String(StringView(kFakeBootId));
        reply.list_faults.faults_recorded = m_faults_recorded;
        for (const FaultReport& report : m_faults)
            reply.list_faults.faults.append(FaultReport(report));
        return reply;
    }
    case HostMessage::Request::None:
        break;
    }
    return Error::make(ErrorCode::Internal, "request kind not handled");
}

ErrorOr<Reply> FakeGuest::push_begin(const PushCellBegin& begin)
{
    if (!link::is_valid_cell_name(begin.name))
        return Error::make(ErrorCode::InvalidArgument, "cell name must be [a-z][a-z0-9_]*", begin.name.size());
    if (m_pushes.size() >= kMaxOpenPushes)
        return Error::make(ErrorCode::Busy, "too many pushes open at once", kMaxOpenPushes);
    std::uint32_t id = m_next_push_id++;
    Push& push = m_pushes[id];
    push.name = from_string(begin.name);
    push.total_size = begin.total_size;
    push.expected = begin.sha256;
    push.bytes.reserve(begin.total_size);
    Reply reply;
    reply.payload = Reply::Payload::PushBegin;
    reply.push_begin.push_id = id;
    return reply;
}

ErrorOr<Reply> FakeGuest::push_chunk(const PushCellChunk& chunk)
{
    auto found = m_pushes.find(chunk.push_id);
    if (found == m_pushes.end())
        return Error::make(ErrorCode::NotFound, "no such push", chunk.push_id);
    Push& push = found->second;
    if (chunk.offset != push.bytes.size())
        return Error::make(ErrorCode::OutOfRange, "chunk offset is not where the push left off", chunk.offset);
    if (chunk.data.size() > push.total_size - push.bytes.size())
        return Error::make(ErrorCode::OutOfRange, "chunk runs past the announced size", chunk.offset + chunk.data.size());
    push.bytes.insert(push.bytes.end(), chunk.data.data(), chunk.data.data() + chunk.data.size());
    push.hash.update(chunk.data);
    Reply reply;
    reply.payload = Reply::Payload::PushChunk;
    reply.push_chunk.received_bytes = push.bytes.size();
    return reply;
}

ErrorOr<Reply> FakeGuest::push_commit(const PushCellCommit& commit)
{
    auto found = m_pushes.find(commit.push_id);
    if (found == m_pushes.end())
        return Error::make(ErrorCode::NotFound, "no such push", commit.push_id);
    // A commit ends the push whatever its outcome; a failed one is pushed again from the start.
    Push push = std::move(found->second);
    m_pushes.erase(found);
    if (push.bytes.size() != push.total_size)
        return Error::make(ErrorCode::InvalidArgument, "push ended short of the announced size", push.bytes.size());
    if (!(push.hash.finish() == push.expected))
        return Error::make(ErrorCode::Malformed, "sha256 digest does not match the pushed bytes");

    ByteView bytes(push.bytes.data(), push.bytes.size());
    auto object = TRY(link::RelocatableObject::parse(bytes));
    auto identity = TRY(link::read_cell_identity(object));
    if (!(identity.name == StringView(push.name.data(), push.name.size())))
        return Error::make(ErrorCode::InvalidArgument, "push name differs from the cell's DELOS_CELL name");

    Cell cell;
    cell.name = push.name;
    cell.version = std::string(identity.version.data(), identity.version.size());
    cell.state = CellState::Staged;
    cell.object_bytes = push.bytes.size();
    cell.sha256 = push.expected;
    cell.has_sha256 = true;
    for (const link::ObjectSection& section : object.sections()) {
        if (section.index == 0)
            continue;
        ++cell.section_count;
        if (!section.is_allocated())
            continue;
        if (section.type == elf::SHT_NOBITS)
            cell.bss_bytes += section.size;
        else if (section.flags & elf::SHF_EXECINSTR)
            cell.text_bytes += section.size;
        else if (section.flags & elf::SHF_WRITE)
            cell.data_bytes += section.size;
        else
            cell.rodata_bytes += section.size;
    }
    // A new push of a staged name replaces the staged copy; a loaded one stays until load swaps it.
    std::erase_if(m_cells, [&](const Cell& other) { return other.name == cell.name && other.state == CellState::Staged; });
    m_cells.push_back(cell);

    Reply reply;
    reply.payload = Reply::Payload::PushCommit;
    reply.push_commit.cell = describe(cell);
    return reply;
}

FakeGuest::Cell* FakeGuest::find_cell(const std::string& name, CellState state)
{
    for (Cell& cell : m_cells) {
        if (cell.name == name && cell.state == state)
            return &cell;
    }
    return nullptr;
}

ErrorOr<Reply> FakeGuest::load_cell(const std::string& name)
{
    Cell* staged = find_cell(name, CellState::Staged);
    Cell* loaded = find_cell(name, CellState::Loaded);
    if (!staged)
        return Error::make(loaded ? ErrorCode::AlreadyExists : ErrorCode::NotFound,
                           loaded ? "cell is already loaded (push a new version to replace it)" : "no such cell");
    // Live replacement, reduced to its outcome: the new copy takes the next generation.
    std::uint32_t generation = loaded ? loaded->generation + 1 : 1;
    std::string version = staged->version;
    if (loaded)
        std::erase_if(m_cells, [&](const Cell& cell) { return cell.name == name && cell.state == CellState::Loaded; });
    staged = find_cell(name, CellState::Staged);
    staged->state = CellState::Loaded;
    staged->generation = generation;
    // The cell's init logs before the reply goes out: hosts must not lose events that
    // arrive while they wait.
    emit_log(name, LogLevel::Info, "loaded " + name + " " + version + " (generation " + std::to_string(generation) + ")");

    Reply reply;
    reply.payload = Reply::Payload::LoadCell;
    reply.load_cell.cell = describe(*staged);
    return reply;
}

ErrorOr<Reply> FakeGuest::unload_cell(const std::string& name)
{
    Cell* cell = find_cell(name, CellState::Loaded);
    if (!cell)
        cell = find_cell(name, CellState::Staged);
    if (!cell)
        return Error::make(ErrorCode::NotFound, "no such cell");
    std::uint64_t dependents = 0;
    for (const Cell& other : m_cells) {
        if (other.state == CellState::Loaded && cell->state == CellState::Loaded)
            for (const std::string& dependency : other.dependencies)
                dependents += dependency == name;
    }
    if (dependents > 0)
        return Error::make(ErrorCode::Busy, "other loaded cells depend on this one", dependents);
    CellState state = cell->state;
    std::erase_if(m_cells, [&](const Cell& other) { return other.name == name && other.state == state; });
    Reply reply;
    reply.payload = Reply::Payload::UnloadCell;
    return reply;
}

ErrorOr<Reply> FakeGuest::swap_cells(const SwapCellsRequest& request, bool rollback)
{
    // Check every pair first: all or nothing.
    struct Planned {
        std::string name;
        Cell replacement;
    };
    std::vector<Planned> plan;
    for (const SwapPair& pair : request.pairs) {
        std::string name = from_string(pair.old_cell);
        if (!find_cell(name, CellState::Loaded))
            return Error::make(ErrorCode::NotFound, "no loaded cell with that name");
        if (rollback) {
            auto previous = m_previous.find(name);
            if (previous == m_previous.end())
                return Error::make(ErrorCode::NotFound, "no previous generation to roll back to");
            plan.push_back({name, previous->second});
            continue;
        }
        std::string object = pair.new_object.empty() ? name : from_string(pair.new_object);
        Cell* staged = find_cell(object, CellState::Staged);
        if (!staged)
            return Error::make(ErrorCode::NotFound, "no staged cell for the new version (push it first)");
        plan.push_back({name, *staged});
    }
    Reply reply;
    reply.payload = rollback ? Reply::Payload::RollbackCell : Reply::Payload::SwapCells;
    CellSwapped& swapped = rollback ? reply.rollback_cell.swapped : reply.swap_cells.swapped;
    swapped.rollback = rollback;
    for (Planned& planned : plan) {
        Cell* loaded = find_cell(planned.name, CellState::Loaded);
        SwappedCell cell;
        cell.name = to_string(planned.name);
        cell.old_version = to_string(loaded->version);
        cell.new_version = to_string(planned.replacement.version);
        cell.old_generation = loaded->generation;
        cell.new_generation = loaded->generation + 1;
        swapped.cells.append(static_cast<SwappedCell&&>(cell));
        Cell old = *loaded;
        if (!rollback)
            std::erase_if(m_cells, [&](const Cell& c) { return c.name == planned.replacement.name && c.state == CellState::Staged; });
        loaded = find_cell(planned.name, CellState::Loaded);
        std::uint32_t generation = loaded->generation + 1;
        *loaded = planned.replacement;
        loaded->name = planned.name;
        loaded->state = CellState::Loaded;
        loaded->generation = generation;
        m_previous[planned.name] = old;
    }
    swapped.timing.load_ns = 110'000;
    swapped.timing.link_ns = 90'000;
    swapped.timing.verify_ns = 10'000;
    swapped.timing.transfer_ns = 20'000;
    swapped.timing.repoint_ns = 5'000;
    swapped.timing.cleanup_ns = 15'000;
    swapped.timing.total_ns = 250'000;
    swapped.relocations_repointed = 3;
    Event event;
    event.kind = Event::Kind::CellSwapped;
    event.cell_swapped = swapped;
    emit(static_cast<Event&&>(event));
    return reply;
}

CellInfo FakeGuest::describe(const Cell& cell) const
{
    CellInfo info;
    info.name = to_string(cell.name);
    info.version = to_string(cell.version);
    info.state = cell.state;
    info.generation = cell.generation;
    info.section_count = cell.section_count;
    info.text_bytes = cell.text_bytes;
    info.rodata_bytes = cell.rodata_bytes;
    info.data_bytes = cell.data_bytes;
    info.bss_bytes = cell.bss_bytes;
    info.object_bytes = cell.object_bytes;
    for (const std::string& dependency : cell.dependencies)
        info.dependencies.append(to_string(dependency));
    info.sha256 = cell.sha256;
    info.has_sha256 = cell.has_sha256;
    return info;
}

} // namespace delos::chan
