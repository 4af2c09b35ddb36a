// dashboard_api.cpp: see dashboard_api.h.
#include "dashboard_api.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "json_writer.h"
#include "query_params.h"
#include "symbol_names.h"

namespace delos::dashboard {

namespace {

constexpr std::uint32_t kGuestsPerBucketInLists = 20;

std::string frame_text(const BucketKey& key)
{
    char offset[24];
    std::snprintf(offset, sizeof offset, "+0x%llx", static_cast<unsigned long long>(key.offset));
    return key.symbol + offset;
}

// A bucket's fields, inside an object the caller opened.
void write_bucket(JsonWriter& json, const BucketSummary& bucket, std::size_t max_guests)
{
    json.field("id", bucket.id)
        .field("cell", bucket.key.cell)
        .field("version", bucket.key.version)
        .field("symbol", bucket.key.symbol)
        .field("offset", bucket.key.offset)
        .field("frame", frame_text(bucket.key))
        .field("frame_demangled", controller::demangled_symbol(bucket.key.symbol) + frame_text(bucket.key).substr(bucket.key.symbol.size()))
        .field("count", bucket.count)
        .field("first_seen_unix_ms", bucket.first_seen_unix_ms)
        .field("last_seen_unix_ms", bucket.last_seen_unix_ms)
        .field("last_message", bucket.last_message)
        .field("last_host", bucket.last_host)
        .field("last_sequence", bucket.last_sequence)
        .field("guest_count", static_cast<std::uint64_t>(bucket.guests.size()));
    json.key("kinds").begin_array();
    for (const std::string& kind : bucket.kinds)
        json.value(kind);
    json.end_array();
    json.key("guests").begin_array();
    for (std::size_t i = 0; i < bucket.guests.size() && i < max_guests; ++i)
        json.begin_object()
            .field("host", bucket.guests[i].host)
            .field("vm", bucket.guests[i].vm)
            .field("faults", bucket.guests[i].faults)
            .end_object();
    json.end_array();
}

HttpResponse ok(JsonWriter& json) { return {200, "application/json", json.take()}; }

// No cursor: the endpoint answers all its rows at once.
constexpr std::string_view kNoCursor;

// Every list endpoint answers one shape: its own fields (`head`), the cursor to its next page
// under `cursor` (null on the last page; none for endpoints that do not page with one), and one
// object per row under `rows_name`, whose fields `write_row` writes.
template <typename Rows, typename WriteRow>
HttpResponse list_answer(const std::function<void(JsonWriter&)>& head, std::string_view cursor,
                         std::optional<std::uint64_t> next, std::string_view rows_name, const Rows& rows,
                         WriteRow&& write_row)
{
    JsonWriter json;
    json.begin_object();
    head(json);
    if (!cursor.empty()) {
        if (next)
            json.field(cursor, *next);
        else
            json.key(cursor).null();
    }
    json.key(rows_name).begin_array();
    for (const auto& row : rows) {
        json.begin_object();
        write_row(json, row);
        json.end_object();
    }
    json.end_array().end_object();
    return ok(json);
}

std::string runner_name(v1::Runner runner, const v1::VmSpec& spec)
{
    if (!spec.libvirt_domain().empty())
        return "libvirt";
    switch (runner) {
    case v1::RUNNER_VMM: return "vmm";
    case v1::RUNNER_QEMU: return "qemu";
    case v1::RUNNER_ATTACH: return "attach";
    case v1::RUNNER_COMMAND: return "command";
    case v1::RUNNER_CLONE: return "clone";
    default: return "unspecified";
    }
}

std::string hex(const std::string& bytes)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

// One host of /api/hosts with its guests; `now` dates their uptime by the host's clock.
void write_host(JsonWriter& json, const HostSnapshot& host, std::int64_t now)
{
    json.field("name", host.name)
        .field("address", host.address)
        .field("local", host.local)
        .field("reachable", host.reachable)
        .field("error", host.error)
        .field("fault_watch_error", host.fault_watch_error)
        .field("polled_unix_ms", host.polled_unix_ms)
        .field("last_reachable_unix_ms", host.last_reachable_unix_ms)
        .field("version", host.version)
        .field("uptime_ms", host.uptime_ms)
        .field("faults_stored", host.faults_stored);
    json.key("vms").begin_array();
    for (const v1::Vm& vm : host.vms) {
        const std::string& name = vm.spec().name();
        json.begin_object()
            .field("name", name)
            .field("runner", runner_name(vm.spec().runner(), vm.spec()))
            .field("state", v1::VmState_Name(vm.state()))
            .field("boot_id", vm.boot_id())
            .field("restarts", vm.restarts())
            .field("pid", vm.pid())
            .field("faults", vm.faults())
            .field("kernel_version", vm.kernel_version())
            .field("last_exit", vm.last_exit())
            .field("created_unix_ms", vm.created_unix_ms());
        auto stats = host.stats.find(name);
        auto started = host.boot_started_unix_ms.find(name);
        bool running = vm.state() == v1::VM_STATE_RUNNING;
        // Uptime by the host's clock (since this boot began); the guest's own clock is shown
        // beside it, since under emulation it can run fast or slow.
        if (running && started != host.boot_started_unix_ms.end() && now >= started->second)
            json.field("uptime_ms", now - started->second);
        else
            json.key("uptime_ms").null();
        if (stats != host.stats.end() && stats->second.has_guest()) {
            const v1::StatsReply& guest = stats->second.guest();
            json.field("guest_uptime_ms", static_cast<std::int64_t>(guest.uptime_ns() / 1000000))
                .field("tasks", guest.task_count())
                .field("memory_total_bytes", guest.memory_total_bytes())
                .field("memory_free_bytes", guest.memory_free_bytes());
        } else {
            json.key("guest_uptime_ms").null();
            if (stats != host.stats.end() && !stats->second.error().empty())
                json.field("stats_error", stats->second.error());
        }
        auto cells = host.cells.find(name);
        json.key("cells").begin_array();
        if (cells != host.cells.end())
            for (const v1::CellInfo& cell : cells->second)
                json.value(cell.name() + "@" + cell.version());
        json.end_array();
        json.end_object();
    }
    json.end_array();
}

} // namespace

HttpResponse json_error(int status, const std::string& message)
{
    JsonWriter json;
    json.begin_object().field("error", message).end_object();
    return {status, "application/json", json.take()};
}

DashboardApi::DashboardApi(DashboardData& data, std::function<std::int64_t()> now) : m_data(data), m_now(std::move(now))
{
    if (!m_now)
        m_now = [] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
}

HttpResponse DashboardApi::get(std::string_view path, std::string_view query)
{
    struct Route {
        HttpResponse (DashboardApi::*handler)(const QueryParams&);
        std::vector<std::string_view> params;  // what its query may name; anything else is a 400
    };
    static const std::map<std::string_view, Route> routes = {
        {"/api/overview", {&DashboardApi::overview, {}}},
        {"/api/hosts", {&DashboardApi::hosts, {"host"}}},
        {"/api/cells", {&DashboardApi::cells, {"host", "cell"}}},
        {"/api/buckets", {&DashboardApi::buckets, {"sort", "cell", "vm", "host", "offset", "limit"}}},
        {"/api/bucket", {&DashboardApi::bucket, {"id"}}},
        {"/api/faults", {&DashboardApi::faults, {"bucket", "host", "vm", "before", "limit"}}},
        {"/api/fault", {&DashboardApi::fault, {"host", "sequence"}}},
        {"/api/timeline", {&DashboardApi::timeline, {"window_s", "slots", "bucket"}}},
        {"/api/rollouts", {&DashboardApi::rollouts, {}}},
    };
    auto found = routes.find(path);
    if (found == routes.end())
        return json_error(404, "no such endpoint; see docs/dashboard.md for the API");
    try {
        return (this->*found->second.handler)(QueryParams::parse(query, found->second.params));
    } catch (const BadRequest& error) {
        return json_error(400, error.what());
    }
}

HttpResponse DashboardApi::overview(const QueryParams&)
{
    std::vector<HostSnapshot> hosts = m_data.hosts();
    std::uint64_t unreachable = 0, vms = 0, running = 0;
    for (const HostSnapshot& host : hosts) {
        unreachable += host.reachable ? 0 : 1;
        vms += host.vms.size();
        for (const v1::Vm& vm : host.vms)
            running += vm.state() == v1::VM_STATE_RUNNING ? 1 : 0;
    }
    RolloutsView rollouts = m_data.rollouts();
    std::uint64_t active = 0;
    for (const RolloutRow& row : rollouts.rollouts)
        active += row.active ? 1 : 0;
    JsonWriter json;
    json.begin_object()
        .field("host", m_data.local_name())
        .field("now_unix_ms", m_now())
        .field("changes", m_data.changes())
        .field("hosts", static_cast<std::uint64_t>(hosts.size()))
        .field("hosts_unreachable", unreachable)
        .field("vms", vms)
        .field("vms_running", running)
        .field("faults", m_data.faults().fault_count())
        .field("buckets", m_data.faults().bucket_count())
        .field("rollouts_available", rollouts.available)
        .field("rollouts_active", active)
        .end_object();
    return ok(json);
}

HttpResponse DashboardApi::hosts(const QueryParams& params)
{
    std::string only = params.text("host");
    std::int64_t now = m_now();
    std::vector<HostSnapshot> hosts = m_data.hosts();
    std::erase_if(hosts, [&](const HostSnapshot& host) { return !only.empty() && host.name != only; });
    return list_answer([&](JsonWriter& json) { json.field("now_unix_ms", now); }, kNoCursor, std::nullopt, "hosts", hosts,
                       [&](JsonWriter& json, const HostSnapshot& host) { write_host(json, host, now); });
}


HttpResponse DashboardApi::cells(const QueryParams& params)
{
    std::string only_host = params.text("host"), only_cell = params.text("cell");
    struct Runner {
        std::string host, vm, state;
        std::uint32_t generation;
        std::string sha256;
    };
    std::map<std::string, std::map<std::string, std::vector<Runner>>> cells;  // name -> version -> guests
    for (const HostSnapshot& host : m_data.hosts()) {
        if (!only_host.empty() && host.name != only_host)
            continue;
        for (const auto& [vm, list] : host.cells)
            for (const v1::CellInfo& cell : list)
                if (only_cell.empty() || cell.name() == only_cell)
                    cells[cell.name()][cell.version()].push_back(
                        {host.name, vm, v1::CellState_Name(cell.state()), cell.generation(), hex(cell.sha256())});
    }
    auto fault_counts = m_data.faults().faults_by_cell_version();
    for (const auto& [key, count] : fault_counts)
        if (only_cell.empty() || key.first == only_cell)
            cells[key.first][key.second];  // versions that faulted show even when no guest runs them now
    JsonWriter json;
    json.begin_object().key("cells").begin_array();
    for (const auto& [name, versions] : cells) {
        json.begin_object().field("name", name).key("versions").begin_array();
        for (const auto& [version, guests] : versions) {
            auto faults = fault_counts.find({name, version});
            json.begin_object()
                .field("version", version)
                .field("faults", faults == fault_counts.end() ? std::uint64_t{0} : faults->second)
                .key("guests")
                .begin_array();
            for (const Runner& runner : guests)
                json.begin_object()
                    .field("host", runner.host)
                    .field("vm", runner.vm)
                    .field("state", runner.state)
                    .field("generation", runner.generation)
                    .field("sha256", runner.sha256)
                    .end_object();
            json.end_array().end_object();
        }
        json.end_array().end_object();
    }
    json.end_array().end_object();
    return ok(json);
}

HttpResponse DashboardApi::buckets(const QueryParams& params)
{
    BucketQuery request;
    request.sort = params.choice("sort", {"last", "count", "first"}, "last");
    request.cell = params.text("cell");
    request.vm = params.text("vm");
    request.host = params.text("host");
    request.offset = params.number("offset", 0, 0, 1ull << 32);
    request.limit = static_cast<std::uint32_t>(params.number("limit", 50, 1, 200));
    BucketPage page = m_data.faults().buckets(request);
    std::optional<std::uint64_t> next;
    if (request.offset + page.buckets.size() < page.total)
        next = request.offset + page.buckets.size();
    return list_answer(
        [&](JsonWriter& json) {
            json.field("total", page.total)
                .field("faults", page.faults)
                .field("offset", request.offset)
                .field("limit", request.limit)
                .field("sort", request.sort);
        },
        "next_offset", next, "buckets", page.buckets,
        [](JsonWriter& json, const BucketSummary& bucket) { write_bucket(json, bucket, kGuestsPerBucketInLists); });
}

HttpResponse DashboardApi::bucket(const QueryParams& params)
{
    if (!params.has("id"))
        throw BadRequest("query: id is required");
    auto id = params.number("id", 0, 0, UINT32_MAX);
    auto found = m_data.faults().bucket(static_cast<std::uint32_t>(id));
    if (!found)
        return json_error(404, "no bucket " + std::to_string(id));
    JsonWriter json;
    json.begin_object();
    write_bucket(json, *found, SIZE_MAX);
    json.end_object();
    return ok(json);
}

HttpResponse DashboardApi::faults(const QueryParams& params)
{
    FaultQuery request;
    if (params.has("bucket") && !params.text("bucket").empty())
        request.bucket = static_cast<std::uint32_t>(params.number("bucket", 0, 0, UINT32_MAX));
    request.host = params.text("host");
    request.vm = params.text("vm");
    request.before = params.number("before", 0, 0, UINT64_MAX);
    request.limit = static_cast<std::uint32_t>(params.number("limit", 50, 1, 500));
    FaultPage page = m_data.faults().faults(request);
    std::optional<std::uint64_t> next;
    if (page.next_before != 0)
        next = page.next_before;
    return list_answer([&](JsonWriter& json) { json.field("total", page.total); }, "next_before", next, "faults", page.faults,
                       [](JsonWriter& json, const FaultRow& row) {
                           json.field("position", row.position)
                               .field("host", row.host)
                               .field("vm", row.vm)
                               .field("sequence", row.sequence)
                               .field("boot_id", row.boot_id)
                               .field("received_unix_ms", row.received_unix_ms)
                               .field("bucket", row.bucket)
                               .field("kind", row.kind)
                               .field("task", row.task)
                               .field("action", row.action);
                       });
}

HttpResponse DashboardApi::fault(const QueryParams& params)
{
    std::string host = params.text("host", m_data.local_name());
    if (!params.has("sequence"))
        throw BadRequest("query: sequence is required");
    std::uint64_t sequence = params.number("sequence", 0, 1, INT64_MAX);
    FaultLookup lookup = m_data.fault(host, sequence);
    if (!lookup.record)
        return lookup.error.empty() ? json_error(404, "host " + host + " has no fault " + std::to_string(sequence))
                                    : json_error(502, "cannot ask host " + host + ": " + lookup.error);
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    std::string record;
    if (!google::protobuf::util::MessageToJsonString(*lookup.record, &record, options).ok())
        return json_error(500, "cannot render the fault report");
    BucketKey key = bucket_key(lookup.record->report());
    JsonWriter json;
    json.begin_object()
        .field("host", host)
        .field("bucket_frame", frame_text(key))
        .field("symbol_demangled", controller::demangled_symbol(lookup.record->report().symbol()));
    json.key("frames_demangled").begin_array();
    for (const v1::BacktraceFrame& frame : lookup.record->report().backtrace())
        json.value(controller::demangled_symbol(frame.symbol()));
    json.end_array().key("record").raw(record).end_object();
    return ok(json);
}

HttpResponse DashboardApi::timeline(const QueryParams& params)
{
    std::int64_t window_ms = static_cast<std::int64_t>(params.number("window_s", 3600, 10, 90 * 24 * 3600)) * 1000;
    auto slots = static_cast<std::uint32_t>(params.number("slots", 60, 1, 500));
    std::optional<std::uint32_t> bucket;
    if (!params.text("bucket").empty())
        bucket = static_cast<std::uint32_t>(params.number("bucket", 0, 0, UINT32_MAX));
    Timeline line = m_data.faults().timeline(m_now(), window_ms, slots, bucket);
    JsonWriter json;
    json.begin_object().field("start_unix_ms", line.start_unix_ms).field("slot_ms", line.slot_ms).key("counts").begin_array();
    for (std::uint64_t count : line.counts)
        json.value(count);
    json.end_array().end_object();
    return ok(json);
}

HttpResponse DashboardApi::rollouts(const QueryParams&)
{
    RolloutsView view = m_data.rollouts();
    return list_answer([&](JsonWriter& json) { json.field("available", view.available).field("note", view.note); },
                       kNoCursor, std::nullopt, "rollouts", view.rollouts, [](JsonWriter& json, const RolloutRow& row) {
                           json.field("host", row.host)
                               .field("id", row.id)
                               .field("cell", row.cell)
                               .field("version", row.version)
                               .field("state", row.state)
                               .field("stage", row.stage)
                               .field("targets", row.targets)
                               .field("swapped", row.swapped)
                               .field("rolled_back", row.rolled_back)
                               .field("failed", row.failed)
                               .field("started_unix_ms", row.started_unix_ms)
                               .field("updated_unix_ms", row.updated_unix_ms)
                               .field("message", row.message)
                               .field("faults", row.faults)
                               .field("active", row.active);
                       });
}

} // namespace delos::dashboard
