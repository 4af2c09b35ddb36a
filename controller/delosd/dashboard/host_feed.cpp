// host_feed.cpp: see host_feed.h.
#include "host_feed.h"

namespace delos::dashboard {

namespace {

std::int64_t now_unix_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string status_text(const grpc::Status& status)
{
    static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                  "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    int code = status.error_code();
    std::string name = code >= 0 && code < 17 ? names[code] : std::to_string(code);
    return name + ": " + status.error_message();
}

void set_deadline(grpc::ClientContext& context, std::chrono::milliseconds timeout)
{
    context.set_deadline(std::chrono::system_clock::now() + timeout);
}

// What the page shows of a snapshot, minus what changes on every poll (uptimes, memory).
std::string digest(const HostSnapshot& snapshot)
{
    std::string out = (snapshot.reachable ? "up|" : "down|") + snapshot.error + "|" + snapshot.fault_watch_error + "|";
    for (const v1::Vm& vm : snapshot.vms)
        out += vm.spec().name() + ":" + std::to_string(vm.state()) + ":" + std::to_string(vm.boot_id()) + ":"
            + std::to_string(vm.restarts()) + ":" + std::to_string(vm.faults()) + ";";
    for (const v1::Rollout& rollout : snapshot.rollouts)
        out += "|r" + std::to_string(rollout.id()) + ":" + std::to_string(rollout.revision());
    for (const auto& [vm, cells] : snapshot.cells) {
        out += "|" + vm;
        for (const v1::CellInfo& cell : cells)
            out += ":" + cell.name() + "@" + cell.version() + "/" + std::to_string(cell.state()) + "/"
                + std::to_string(cell.generation());
    }
    return out;
}

} // namespace

HostFeed::HostFeed(std::string name, std::string address, bool local, std::shared_ptr<grpc::Channel> channel,
                   std::string channel_error, FaultBucketIndex& index, std::function<void()> changed, FeedSettings settings)
    : m_name(std::move(name)),
      m_address(std::move(address)),
      m_local(local),
      m_channel(std::move(channel)),
      m_channel_error(std::move(channel_error)),
      m_index(index),
      m_changed(std::move(changed)),
      m_settings(settings)
{
    m_snapshot.name = m_name;
    m_snapshot.address = m_address;
    m_snapshot.local = m_local;
    m_snapshot.error = m_channel ? "not polled yet" : m_channel_error;
    if (m_channel)
        m_stub = v1::Controller::NewStub(m_channel);
    m_poller = std::thread([this] { poll_loop(); });
    if (m_stub)
        m_watcher = std::thread([this] { watch_loop(); });
}

HostFeed::~HostFeed()
{
    {
        std::lock_guard lock(m_stop_mutex);
        m_stopping = true;
        if (m_watch_context)
            m_watch_context->TryCancel();
    }
    m_stop_signal.notify_all();
    if (m_poller.joinable())
        m_poller.join();
    if (m_watcher.joinable())
        m_watcher.join();
}

bool HostFeed::wait(std::chrono::milliseconds period)
{
    std::unique_lock lock(m_stop_mutex);
    m_stop_signal.wait_for(lock, period, [&] { return m_stopping; });
    return !m_stopping;
}

HostSnapshot HostFeed::snapshot() const
{
    std::lock_guard lock(m_mutex);
    return m_snapshot;
}

void HostFeed::poll_loop()
{
    do {
        if (m_stub)
            poll_once();
    } while (wait(m_settings.poll_interval));
}

void HostFeed::poll_once()
{
    HostSnapshot next;
    next.name = m_name;
    next.address = m_address;
    next.local = m_local;
    next.polled_unix_ms = now_unix_ms();
    {
        std::lock_guard lock(m_mutex);
        next.last_reachable_unix_ms = m_snapshot.last_reachable_unix_ms;
        next.fault_watch_error = m_snapshot.fault_watch_error;
    }
    auto fail = [&](const std::string& what, const grpc::Status& status) {
        next.reachable = false;
        next.error = what + ": " + status_text(status);
    };
    [&] {
        grpc::ClientContext context;
        set_deadline(context, m_settings.call_timeout);
        v1::ListVmsResponse vms;
        grpc::Status status = m_stub->ListVms(&context, v1::ListVmsRequest(), &vms);
        if (!status.ok())
            return fail("ListVms", status);
        next.reachable = true;
        next.last_reachable_unix_ms = next.polled_unix_ms;
        next.vms.assign(vms.vms().begin(), vms.vms().end());

        grpc::ClientContext stats_context;
        set_deadline(stats_context, m_settings.call_timeout);
        v1::GetStatsResponse stats;
        status = m_stub->GetStats(&stats_context, v1::GetStatsRequest(), &stats);
        if (status.ok()) {
            next.version = stats.version();
            next.uptime_ms = stats.uptime_ms();
            next.faults_stored = stats.faults_stored();
            for (const v1::VmStats& each : stats.vms())
                next.stats[each.vm()] = each;
        }
        for (const v1::Vm& vm : next.vms) {
            if (vm.state() != v1::VM_STATE_RUNNING)
                continue;
            auto& known = m_boot_started[vm.spec().name()];
            if (known.first != vm.boot_id() || known.second == 0)
                known = {vm.boot_id(), boot_started(vm.spec().name(), vm.boot_id())};
            if (known.second != 0)
                next.boot_started_unix_ms[vm.spec().name()] = known.second;
            grpc::ClientContext cells_context;
            set_deadline(cells_context, m_settings.call_timeout);
            v1::ListCellsOnVmRequest request;
            request.set_vm(vm.spec().name());
            v1::ListCellsOnVmResponse cells;
            if (m_stub->ListCells(&cells_context, request, &cells).ok())
                next.cells[vm.spec().name()].assign(cells.cells().begin(), cells.cells().end());
        }
    }();
    if (next.reachable) {
        grpc::ClientContext rollouts_context;
        set_deadline(rollouts_context, m_settings.call_timeout);
        v1::ListRolloutsRequest request;
        request.set_limit(20);
        v1::ListRolloutsResponse rollouts;
        grpc::Status status = m_stub->ListRollouts(&rollouts_context, request, &rollouts);
        if (status.ok()) {
            next.serves_rollouts = true;
            next.rollouts.assign(rollouts.rollouts().begin(), rollouts.rollouts().end());
        } else {
            next.rollouts_error = "ListRollouts: " + status_text(status);
        }
    }
    std::string next_digest = digest(next);
    bool changed;
    {
        std::lock_guard lock(m_mutex);
        changed = next_digest != m_digest;
        m_digest = next_digest;
        m_snapshot = std::move(next);
    }
    if (changed)
        m_changed();
}

void HostFeed::watch_loop()
{
    auto backoff = std::chrono::milliseconds(250);
    for (;;) {
        grpc::ClientContext context;
        {
            std::lock_guard lock(m_stop_mutex);
            if (m_stopping)
                return;
            m_watch_context = &context;
        }
        v1::WatchFaultsRequest request;
        request.set_after_sequence(m_index.last_sequence(m_name));
        auto reader = m_stub->WatchFaults(&context, request);
        v1::FaultRecord record;
        bool flowing = false;
        while (reader->Read(&record)) {
            if (!flowing) {
                flowing = true;
                backoff = std::chrono::milliseconds(250);
                std::lock_guard lock(m_mutex);
                m_snapshot.fault_watch_error.clear();
            }
            if (m_index.add(m_name, record))
                m_changed();
        }
        grpc::Status status = reader->Finish();
        {
            std::lock_guard lock(m_stop_mutex);
            m_watch_context = nullptr;
            if (m_stopping)
                return;
        }
        {
            std::lock_guard lock(m_mutex);
            m_snapshot.fault_watch_error = "WatchFaults: " + status_text(status);
        }
        if (!wait(backoff))
            return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

std::int64_t HostFeed::boot_started(const std::string& vm, std::uint64_t boot_id)
{
    grpc::ClientContext context;
    set_deadline(context, m_settings.call_timeout);
    v1::WatchEventsRequest request;
    request.set_vm(vm);
    request.set_stored_only(true);
    auto reader = m_stub->WatchEvents(&context, request);
    v1::EventRecord event;
    std::int64_t started = 0;
    while (reader->Read(&event)) {
        bool begins = event.kind() == v1::EVENT_VM_STARTED || event.kind() == v1::EVENT_VM_CONNECTED
                   || event.kind() == v1::EVENT_NEW_BOOT;
        if (begins && event.boot_id() == boot_id && (started == 0 || event.unix_ms() < started))
            started = event.unix_ms();  // the earliest: the process start, else the first connection
    }
    reader->Finish();
    return started;
}

FaultLookup HostFeed::fault(std::uint64_t sequence)
{
    FaultLookup lookup;
    if (!m_stub) {
        lookup.error = m_channel_error;
        return lookup;
    }
    grpc::ClientContext context;
    set_deadline(context, m_settings.call_timeout);
    v1::ListFaultsRequest request;
    request.set_after_sequence(sequence - 1);
    request.set_page_size(1);
    v1::ListFaultsResponse response;
    grpc::Status status = m_stub->ListFaults(&context, request, &response);
    if (!status.ok()) {
        lookup.error = "ListFaults: " + status_text(status);
        return lookup;
    }
    if (response.faults_size() == 1 && response.faults(0).sequence() == sequence)
        lookup.record = response.faults(0);
    return lookup;
}

} // namespace delos::dashboard
