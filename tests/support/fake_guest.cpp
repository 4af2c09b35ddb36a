// fake_guest.cpp: the fake guest: socket loop feeding the guest's channel engine, and a backend
// that models cells as records (the boot cells log and kv; pushed cells loaded by name).
#include "fake_guest.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "abi/channel_limits.h"

namespace delos::chan {

using namespace delos::channel;

namespace {

std::uint64_t now_ns()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

String to_string(const std::string& text) { return String(StringView(text.data(), text.size())); }

CellInfo boot_cell(const char* name, const char* version, std::uint32_t sections, std::uint64_t text_bytes)
{
    CellInfo cell;
    cell.name = String(name);
    cell.version = String(version);
    cell.state = CellState::Loaded;
    cell.generation = 1;
    cell.section_count = sections;
    cell.text_bytes = text_bytes;
    cell.rodata_bytes = 256;
    cell.data_bytes = 64;
    cell.bss_bytes = 4096;
    cell.object_bytes = 9000;
    return cell;
}

// The cells of the fake's "boot archive".
std::vector<CellInfo> archive_cells()
{
    std::vector<CellInfo> cells;
    cells.push_back(boot_cell("log", "1.0.0", 14, 2048));
    cells.push_back(boot_cell("kv", "1.2.0", 30, 6000));
    cells.back().dependencies.append(String("log"));
    return cells;
}

} // namespace

FakeGuest::Backend::Backend(const Options& options, std::uint64_t started_ns) : m_options(options), m_started_ns(started_ns)
{
    if (m_options.boot_cells)
        m_cells = archive_cells();
}

StringView FakeGuest::Backend::kernel_version() const
{
    return StringView(m_options.kernel_version.data(), m_options.kernel_version.size());
}

std::uint64_t FakeGuest::Backend::uptime_ns() const { return now_ns() - m_started_ns; }

bool FakeGuest::Backend::is_loaded(StringView name) const
{
    return std::any_of(m_cells.begin(), m_cells.end(), [&](const CellInfo& cell) { return cell.name.view() == name; });
}

void FakeGuest::Backend::describe_loaded_cells(Vector<CellInfo>& into) const
{
    for (const CellInfo& cell : m_cells)
        into.append(cell);
}

ErrorOr<LoadCellReply> FakeGuest::Backend::load_from_archive(StringView name)
{
    if (is_loaded(name))
        return Error::make(ErrorCode::AlreadyExists, "cell is already loaded");
    for (CellInfo& cell : archive_cells()) {
        if (cell.name.view() != name)
            continue;
        LoadCellReply reply;
        for (const String& dependency : cell.dependencies) {
            if (!is_loaded(dependency.view())) {
                // Only log can be missing, and it depends on nothing.
                auto loaded = load_from_archive(dependency.view());
                if (loaded.is_error())
                    return loaded.release_error();
                reply.also_loaded.append(dependency);
            }
        }
        m_cells.push_back(cell);
        reply.cell = std::move(cell);
        return reply;
    }
    return Error::make(ErrorCode::NotFound, "no cell of that name in the boot archive");
}

ErrorOr<LoadCellReply> FakeGuest::Backend::load_staged(const control::StagedCell& staged)
{
    CellInfo cell = control::describe_staged(staged);
    cell.state = CellState::Loaded;
    cell.generation = 1;
    m_cells.push_back(cell);
    // The cell's init logs before the reply goes out: hosts must not lose events that arrive
    // while they wait.
    std::string name(staged.name.data(), staged.name.size());
    std::string version(staged.version.data(), staged.version.size());
    Event event;
    event.kind = Event::Kind::LogLine;
    event.log_line.cell = staged.name;
    event.log_line.level = LogLevel::Info;
    event.log_line.text = to_string("loaded " + name + " " + version + " (generation 1)");
    event.log_line.timestamp_ns = uptime_ns();
    m_pending.push_back(std::move(event));
    LoadCellReply reply;
    reply.cell = std::move(cell);
    return reply;
}

ErrorOr<void> FakeGuest::Backend::unload(StringView name)
{
    std::uint64_t dependents = 0;
    for (const CellInfo& other : m_cells)
        for (const String& dependency : other.dependencies)
            dependents += dependency.view() == name;
    if (dependents > 0)
        return Error::make(ErrorCode::Busy, "other loaded cells depend on this one", dependents);
    std::erase_if(m_cells, [&](const CellInfo& cell) { return cell.name.view() == name; });
    return {};
}

CellInfo* FakeGuest::Backend::find_loaded(StringView name)
{
    for (CellInfo& cell : m_cells)
        if (cell.name.view() == name)
            return &cell;
    return nullptr;
}

ErrorOr<CellSwapped> FakeGuest::Backend::swap_cells(const Vector<SwapSource>& sources)
{
    // Every pair is checked first: all or nothing.
    std::vector<Planned> plan;
    for (const SwapSource& source : sources) {
        if (!find_loaded(source.old_cell))
            return Error::make(ErrorCode::NotFound, "no loaded cell with that name");
        if (!source.staged)
            return Error::make(ErrorCode::NotFound, "no staged cell for the new version (push it first)");
        plan.push_back({std::string(source.old_cell.data(), source.old_cell.size()), control::describe_staged(*source.staged)});
    }
    return apply(plan, false);
}

ErrorOr<CellSwapped> FakeGuest::Backend::rollback_cell(StringView name)
{
    if (!find_loaded(name))
        return Error::make(ErrorCode::NotFound, "no loaded cell with that name");
    auto previous = m_previous.find(std::string(name.data(), name.size()));
    if (previous == m_previous.end())
        return Error::make(ErrorCode::NotFound, "no previous generation to roll back to");
    std::vector<Planned> plan;
    plan.push_back({previous->first, previous->second});
    return apply(plan, true);
}

CellSwapped FakeGuest::Backend::apply(std::vector<Planned>& plan, bool rollback)
{
    CellSwapped swapped;
    swapped.rollback = rollback;
    for (Planned& planned : plan) {
        CellInfo* loaded = find_loaded(StringView(planned.name.data(), planned.name.size()));
        SwappedCell cell;
        cell.name = to_string(planned.name);
        cell.old_version = loaded->version;
        cell.new_version = planned.replacement.version;
        cell.old_generation = loaded->generation;
        cell.new_generation = loaded->generation + 1;
        swapped.cells.append(static_cast<SwappedCell&&>(cell));
        CellInfo old = *loaded;
        std::uint32_t generation = loaded->generation + 1;
        *loaded = planned.replacement;
        loaded->name = to_string(planned.name);
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
    return swapped;
}

void FakeGuest::Backend::fill_stats(StatsReply& stats) const
{
    stats.memory_total_bytes = 256ull << 20;
    stats.frames_total = stats.memory_total_bytes / 4096;
    stats.memory_free_bytes = free_memory_bytes();
    stats.frames_free = stats.memory_free_bytes / 4096;
    stats.heap_capacity_bytes = 16ull << 20;
    stats.heap_used_bytes = 1ull << 20;
    stats.task_count = 3;
    CellTasks kernel_tasks;  // the real guest groups its tasks by cell; the kernel's come first
    kernel_tasks.task_count = 3;
    for (const char* name : {"kernel_main", "idle", "control-agent"})
        kernel_tasks.task_names.append(String(name));
    stats.tasks_by_cell.append(std::move(kernel_tasks));
    stats.uptime_ns = uptime_ns();
    stats.cell_count = loaded_cell_count();
}

bool FakeGuest::Backend::take_event(Event& event)
{
    if (m_pending.empty())
        return false;
    event = std::move(m_pending.front());
    m_pending.erase(m_pending.begin());
    return true;
}

namespace {

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

void FakeGuest::SocketWriter::write_frame(ByteView frame)
{
    if (fd >= 0)
        write_all(fd, frame.data(), frame.size());
}

FakeGuest::FakeGuest(std::string socket_path, Options options)
    : m_socket_path(std::move(socket_path)), m_options(std::move(options)), m_started_ns(now_ns()),
      m_backend(m_options, m_started_ns), m_engine(m_backend, m_writer)
{
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
        std::lock_guard<std::mutex> lock(m_mutex);
        m_writer.fd = fd;
        m_engine.open_session();  // a new connection is a new session
    }
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
        std::lock_guard<std::mutex> lock(m_mutex);
        m_engine.receive(ByteView(buffer.data(), static_cast<std::size_t>(got)));
    }
    m_connected = false;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_engine.close_session();
    m_writer.fd = -1;
    ::close(fd);
}

std::uint64_t FakeGuest::frames_answered() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_engine.frames_answered();
}

bool FakeGuest::emit(Event event)
{
    if (event.uptime_ns == 0)
        event.uptime_ns = now_ns() - m_started_ns;
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_engine.send_event(std::move(event));
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

bool FakeGuest::emit_fault(FaultReport report)
{
    Event event;
    event.kind = Event::Kind::FaultReport;
    event.fault_report = std::move(report);
    return emit(std::move(event));
}

} // namespace delos::chan
