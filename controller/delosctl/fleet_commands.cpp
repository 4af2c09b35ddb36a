// fleet_commands.cpp: delosctl over a fleet (docs/fleet.md): `--fleet FILE` read commands ask
// every delosd of the fleet file at once and merge the answers (a host that does not answer is
// shown as unreachable; the others are shown all the same), and `rollout` starts, follows and
// steers rollouts on the fleet's coordinator.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "cell_signature.h"
#include "commands.h"
#include "delos/v1/controller.grpc.pb.h"
#include "fleet_file.h"
#include "output.h"
#include "tables.h"

namespace delos::ctl {

namespace {

using controller::to_hex;

struct HostAnswer {
    std::string host;
    grpc::Status status;
};

std::string quoted(const std::string& text)
{
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::string unreachable_text(const grpc::Status& status)
{
    std::string message = status.error_message();
    return message.size() > 120 ? message.substr(0, 117) + "..." : message;
}

bool host_unreachable(const grpc::Status& status)
{
    return status.error_code() == grpc::StatusCode::UNAVAILABLE || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
        || status.error_code() == grpc::StatusCode::UNAUTHENTICATED;
}

// Runs `ask` against every host of the fleet, each on its own thread with its own deadline, so a
// host that hangs delays no other.
template <typename Answer>
std::vector<std::pair<HostAnswer, Answer>> ask_fleet(
    const Global& global, const v1::FleetFile& fleet,
    const std::function<grpc::Status(v1::Controller::Stub&, const Global&, Answer&)>& ask)
{
    std::vector<std::pair<HostAnswer, Answer>> answers(static_cast<std::size_t>(fleet.hosts_size()));
    std::vector<std::thread> askers;
    for (int i = 0; i < fleet.hosts_size(); ++i) {
        askers.emplace_back([&, i] {
            auto& [answer, result] = answers[static_cast<std::size_t>(i)];
            answer.host = fleet.hosts(i).name();
            try {
                auto stub = v1::Controller::NewStub(
                    controller::connect_controller(controller::fleet_connect_options(fleet, fleet.hosts(i))));
                answer.status = ask(*stub, global, result);
            } catch (const std::exception& error) {
                answer.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, error.what());
            }
        });
    }
    for (std::thread& asker : askers)
        asker.join();
    return answers;
}

void set_deadline(grpc::ClientContext& context, const Global& global)
{
    context.set_deadline(std::chrono::system_clock::now()
                         + std::chrono::milliseconds(static_cast<std::int64_t>(global.timeout_seconds * 1000)));
}

// Prints the hosts that did not answer (to stderr for tables) and returns the exit code.
template <typename Answers>
int report_unreachable(const Global& global, const Answers& answers)
{
    int code = kOk;
    for (const auto& [answer, result] : answers) {
        if (answer.status.ok())
            continue;
        code = host_unreachable(answer.status) ? kUnavailable : exit_code_for(answer.status);
        if (global.output != "json")
            std::fprintf(stderr, "delosctl: host %s unreachable: %s\n", answer.host.c_str(),
                         unreachable_text(answer.status).c_str());
    }
    return code;
}

std::string json_host_line(const HostAnswer& answer, const std::string& field, const std::string& json)
{
    if (!answer.status.ok())
        return "{\"host\":" + quoted(answer.host) + ",\"reachable\":false,\"error\":" + quoted(answer.status.error_message()) + "}";
    return "{\"host\":" + quoted(answer.host) + ",\"reachable\":true,\"" + field + "\":" + json + "}";
}

} // namespace

int fleet_vm_list(const Global& global)
{
    v1::FleetFile fleet = controller::load_fleet_file(global.fleet);
    auto answers = ask_fleet<v1::ListVmsResponse>(global, fleet, [](v1::Controller::Stub& stub, const Global& g, v1::ListVmsResponse& out) {
        grpc::ClientContext context;
        set_deadline(context, g);
        return stub.ListVms(&context, v1::ListVmsRequest(), &out);
    });
    if (global.output == "json") {
        for (const auto& [answer, response] : answers)
            std::printf("%s\n", json_host_line(answer, "vms", to_json(response)).c_str());
        return report_unreachable(global, answers);
    }
    HostTable table(kVmTable, true);
    for (const auto& [answer, response] : answers) {
        if (!answer.status.ok()) {
            table.add_missing(answer.host, "unreachable", unreachable_text(answer.status));
            continue;
        }
        for (const v1::Vm& vm : response.vms())
            table.add(answer.host, vm_row(vm));
    }
    table.print();
    return report_unreachable(global, answers);
}

namespace {

struct VmCells {
    std::string vm;
    grpc::Status status;
    v1::ListCellsOnVmResponse cells;
};

} // namespace

int fleet_cells(const Global& global, const std::string& only_vm)
{
    v1::FleetFile fleet = controller::load_fleet_file(global.fleet);
    auto answers = ask_fleet<std::vector<VmCells>>(global, fleet, [&](v1::Controller::Stub& stub, const Global& g, std::vector<VmCells>& out) {
        std::vector<std::string> names;
        if (only_vm.empty()) {
            grpc::ClientContext context;
            set_deadline(context, g);
            v1::ListVmsResponse vms;
            grpc::Status status = stub.ListVms(&context, v1::ListVmsRequest(), &vms);
            if (!status.ok())
                return status;
            for (const v1::Vm& vm : vms.vms())
                if (vm.state() == v1::VM_STATE_RUNNING)
                    names.push_back(vm.spec().name());
        } else {
            names.push_back(only_vm);
        }
        for (const std::string& name : names) {
            VmCells entry;
            entry.vm = name;
            grpc::ClientContext context;
            set_deadline(context, g);
            v1::ListCellsOnVmRequest request;
            request.set_vm(name);
            entry.status = stub.ListCells(&context, request, &entry.cells);
            if (entry.status.error_code() == grpc::StatusCode::NOT_FOUND && !only_vm.empty())
                continue;  // that VM lives on another host
            if (host_unreachable(entry.status) && entry.status.error_message().find("guest") == std::string::npos
                && entry.status.error_message().find("VM '") == std::string::npos)
                return entry.status;
            out.push_back(std::move(entry));
        }
        return grpc::Status::OK;
    });
    if (global.output == "json") {
        for (const auto& [answer, list] : answers) {
            std::string vms = "[";
            for (const VmCells& entry : list) {
                vms += (vms.size() > 1 ? "," : "") + std::string("{\"vm\":") + quoted(entry.vm) + ","
                     + (entry.status.ok() ? "\"cells\":" + to_json(entry.cells) : "\"error\":" + quoted(entry.status.error_message()))
                     + "}";
            }
            std::printf("%s\n", json_host_line(answer, "vms", vms + "]").c_str());
        }
        return report_unreachable(global, answers);
    }
    HostTable table(kCellTable, true);
    for (const auto& [answer, list] : answers) {
        if (!answer.status.ok()) {
            table.add_missing(answer.host, "unreachable", unreachable_text(answer.status));
            continue;
        }
        for (const VmCells& entry : list) {
            if (!entry.status.ok()) {
                table.add_missing(answer.host, "unavailable", unreachable_text(entry.status), entry.vm);
                continue;
            }
            for (const v1::CellInfo& cell : entry.cells.cells())
                table.add(answer.host, cell_row(entry.vm, cell));
        }
    }
    table.print();
    return report_unreachable(global, answers);
}

int fleet_faults(const Global& global, const FaultOptions& options, const v1::FaultFilter& filter)
{
    v1::FleetFile fleet = controller::load_fleet_file(global.fleet);
    if (options.follow) {
        // Every host's watch on its own thread, each resuming after the last fault it printed.
        std::mutex print_mutex;
        std::vector<std::thread> watchers;
        for (int i = 0; i < fleet.hosts_size(); ++i) {
            watchers.emplace_back([&, i] {
                const v1::FleetHost& host = fleet.hosts(i);
                std::uint64_t cursor = options.after;
                int backoff_ms = 100;
                for (;;) {
                    grpc::Status status;
                    try {
                        auto stub = v1::Controller::NewStub(controller::connect_controller(controller::fleet_connect_options(fleet, host)));
                        grpc::ClientContext context;
                        v1::WatchFaultsRequest request;
                        *request.mutable_filter() = filter;
                        request.set_after_sequence(cursor);
                        auto reader = stub->WatchFaults(&context, request);
                        v1::FaultRecord record;
                        while (reader->Read(&record)) {
                            std::lock_guard lock(print_mutex);
                            if (global.output == "json")
                                std::printf("{\"host\":%s,\"fault\":%s}\n", quoted(host.name()).c_str(), to_json(record).c_str());
                            else
                                std::printf("[%s] %s\n", host.name().c_str(), crash_report(record).c_str());
                            std::fflush(stdout);
                            cursor = record.sequence();
                            backoff_ms = 100;
                        }
                        status = reader->Finish();
                    } catch (const std::exception& error) {
                        status = grpc::Status(grpc::StatusCode::UNAVAILABLE, error.what());
                    }
                    if (!host_unreachable(status) && !status.ok()) {
                        std::lock_guard lock(print_mutex);
                        std::fprintf(stderr, "delosctl: host %s: %s\n", host.name().c_str(), status.error_message().c_str());
                        return;
                    }
                    {
                        std::lock_guard lock(print_mutex);
                        std::fprintf(stderr, "delosctl: host %s unreachable (%s); retrying after fault %llu\n", host.name().c_str(),
                                     unreachable_text(status).c_str(), static_cast<unsigned long long>(cursor));
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
                    backoff_ms = std::min(backoff_ms * 2, 5000);
                }
            });
        }
        for (std::thread& watcher : watchers)
            watcher.join();
        return kError;
    }
    auto answers = ask_fleet<std::vector<v1::FaultRecord>>(global, fleet, [&](v1::Controller::Stub& stub, const Global& g,
                                                                             std::vector<v1::FaultRecord>& out) {
        v1::ListFaultsRequest request;
        *request.mutable_filter() = filter;
        request.set_after_sequence(options.after);
        request.set_page_size(500);
        for (;;) {
            grpc::ClientContext context;
            set_deadline(context, g);
            v1::ListFaultsResponse response;
            grpc::Status status = stub.ListFaults(&context, request, &response);
            if (!status.ok())
                return status;
            for (const auto& record : response.faults())
                out.push_back(record);
            if (response.next_page_token().empty() || (options.limit && out.size() >= options.limit))
                return grpc::Status::OK;
            request.set_page_token(response.next_page_token());
        }
    });
    // Merged by when each host stored the fault (then host, then sequence: a stable order).
    struct Row {
        std::string host;
        const v1::FaultRecord* record;
    };
    std::vector<Row> merged;
    for (const auto& [answer, records] : answers)
        for (const v1::FaultRecord& record : records)
            merged.push_back({answer.host, &record});
    std::sort(merged.begin(), merged.end(), [](const Row& a, const Row& b) {
        if (a.record->received_unix_ms() != b.record->received_unix_ms())
            return a.record->received_unix_ms() < b.record->received_unix_ms();
        if (a.host != b.host)
            return a.host < b.host;
        return a.record->sequence() < b.record->sequence();
    });
    if (options.limit && merged.size() > options.limit)
        merged.erase(merged.begin(), merged.end() - options.limit);  // the newest
    if (global.output == "json") {
        for (const Row& row : merged)
            std::printf("{\"host\":%s,\"fault\":%s}\n", quoted(row.host).c_str(), to_json(*row.record).c_str());
        for (const auto& [answer, records] : answers)
            if (!answer.status.ok())
                std::printf("%s\n", json_host_line(answer, "", "").c_str());
        return report_unreachable(global, answers);
    }
    if (options.details) {
        for (const Row& row : merged)
            std::printf("[%s] %s\n", row.host.c_str(), crash_report(*row.record).c_str());
        return report_unreachable(global, answers);
    }
    HostTable table(kFaultTable, true);
    for (const Row& row : merged)
        table.add(row.host, fault_row(*row.record));
    for (const auto& [answer, records] : answers)
        if (!answer.status.ok())
            table.add_missing(answer.host, "unreachable", unreachable_text(answer.status));
    table.print();
    return report_unreachable(global, answers);
}

// ---------------------------------------------------------------------------------------------
// Rollouts

namespace {

std::unique_ptr<v1::Controller::Stub> coordinator_stub(const Global& global, std::string* where)
{
    if (global.fleet.empty()) {
        *where = global.connect.server;
        return v1::Controller::NewStub(controller::connect_controller(global.connect));
    }
    v1::FleetFile fleet = controller::load_fleet_file(global.fleet);
    const v1::FleetHost& coordinator = controller::fleet_coordinator(fleet);
    *where = coordinator.name() + " (" + coordinator.address() + ")";
    return v1::Controller::NewStub(controller::connect_controller(controller::fleet_connect_options(fleet, coordinator)));
}

int rollout_fail(const grpc::Status& status, const std::string& where)
{
    std::string message = status.error_message();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE)
        message = "cannot reach the coordinator " + where + ": " + message;
    std::fprintf(stderr, "delosctl: %s\n", message.c_str());
    return exit_code_for(status);
}

std::string target_word(v1::RolloutTargetState state) { return enum_word(v1::RolloutTargetState_Name(state), "ROLLOUT_TARGET_STATE_"); }
std::string rollout_word(v1::RolloutState state) { return enum_word(v1::RolloutState_Name(state), "ROLLOUT_STATE_"); }

bool final_state(v1::RolloutState state)
{
    return state == v1::ROLLOUT_STATE_SUCCEEDED || state == v1::ROLLOUT_STATE_ROLLED_BACK || state == v1::ROLLOUT_STATE_ABORTED
        || state == v1::ROLLOUT_STATE_FAILED;
}

int rollout_exit(const v1::Rollout& rollout)
{
    if (rollout.state() == v1::ROLLOUT_STATE_SUCCEEDED)
        return kOk;
    return final_state(rollout.state()) ? kRolloutStopped : kOk;
}

void print_rollout(const v1::Rollout& rollout)
{
    std::printf("rollout %llu: %s %s -> %s (sha256 %s), %s, by %s, coordinated by %s\n",
                static_cast<unsigned long long>(rollout.id()), rollout.spec().cell().c_str(),
                rollout.targets().empty() ? "?" : rollout.targets(0).old_version().c_str(),
                rollout.new_version().empty() ? "?" : rollout.new_version().c_str(), rollout.sha256().substr(0, 12).c_str(),
                rollout_word(rollout.state()).c_str(), rollout.requested_by().c_str(), rollout.coordinator().c_str());
    if (!rollout.outcome().empty())
        std::printf("outcome: %s\n", rollout.outcome().c_str());
    std::printf("stage %u of %u, faults of the new version %llu (%.2f per guest, limit %.2f)\n",
                rollout.stages() ? rollout.stage() + 1 : 0, rollout.stages(), static_cast<unsigned long long>(rollout.faults()),
                rollout.fault_rate(), rollout.spec().max_fault_rate());
    std::vector<std::vector<std::string>> rows;
    for (const v1::RolloutTarget& target : rollout.targets())
        rows.push_back({target.host(), target.vm(), std::to_string(target.stage()), target_word(target.state()),
                        target.old_version(), target.new_version().empty() ? "-" : target.new_version(),
                        std::to_string(target.faults()), target.error().empty() ? "-" : target.error()});
    print_table({"HOST", "VM", "STAGE", "STATE", "OLD", "NEW", "FAULTS", "ERROR"}, rows);
    for (const v1::RolloutHost& host : rollout.hosts())
        if (!host.reachable())
            std::printf("host %s unreachable: %s\n", host.name().c_str(), host.error().c_str());
}

// Prints the log entries of `rollout` that come after `last` (the last entry printed).
void print_new_log(const v1::Rollout& rollout, v1::RolloutLogEntry& last, bool json)
{
    int from = 0;
    for (int i = rollout.log_size() - 1; i >= 0; --i) {
        if (rollout.log(i).unix_ms() == last.unix_ms() && rollout.log(i).message() == last.message()) {
            from = i + 1;
            break;
        }
    }
    for (int i = from; i < rollout.log_size(); ++i) {
        const v1::RolloutLogEntry& entry = rollout.log(i);
        if (json)
            std::printf("%s\n", to_json(entry).c_str());
        else
            std::printf("%s  %s\n", format_time(entry.unix_ms()).c_str(), entry.message().c_str());
        last = entry;
    }
    std::fflush(stdout);
}

std::int64_t parse_duration_ms(const std::string& text)
{
    std::size_t used = 0;
    double value = std::stod(text, &used);
    std::string unit = text.substr(used);
    double scale = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" ? 60000 : unit == "h" ? 3600000 : -1;
    if (scale < 0 || value < 0 || !std::isfinite(value))
        throw std::invalid_argument("'" + text + "' is not a duration (e.g. 500ms, 30s, 5m)");
    return static_cast<std::int64_t>(value * scale);
}

} // namespace

int rollout_follow(const Global& global, std::uint64_t id)
{
    std::string where;
    auto stub = coordinator_stub(global, &where);
    v1::RolloutLogEntry last;
    v1::Rollout latest;
    int backoff_ms = 100;
    for (;;) {
        grpc::ClientContext context;
        v1::WatchRolloutRequest request;
        request.set_id(id);
        auto reader = stub->WatchRollout(&context, request);
        v1::Rollout update;
        while (reader->Read(&update)) {
            print_new_log(update, last, global.output == "json");
            latest = update;
            backoff_ms = 100;
        }
        grpc::Status status = reader->Finish();
        if (final_state(latest.state()))
            break;
        if (!status.ok() && status.error_code() != grpc::StatusCode::UNAVAILABLE)
            return rollout_fail(status, where);
        // The coordinator went away (a restart): the rollout is in its store; follow it again.
        std::fprintf(stderr, "delosctl: lost the coordinator %s (%s); following rollout %llu again\n", where.c_str(),
                     status.error_message().c_str(), static_cast<unsigned long long>(id));
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 2000);
        stub = coordinator_stub(global, &where);
    }
    if (global.output == "json")
        std::printf("%s\n", to_json(latest).c_str());
    else
        print_rollout(latest);
    return rollout_exit(latest);
}

int rollout_start(const Global& global, const RolloutOptions& options)
{
    v1::StartRolloutRequest request;
    v1::RolloutSpec& spec = *request.mutable_spec();
    try {
        std::ifstream in(options.file, std::ios::binary);
        if (!in)
            throw std::runtime_error("cannot read " + options.file);
        std::ostringstream bytes;
        bytes << in.rdbuf();
        spec.set_object(bytes.str());
        spec.set_sha256(controller::sha256_of(spec.object()));
        if (!options.sign_key.empty()) {
            std::string secret = controller::read_secret_key(options.sign_key);
            spec.set_signature(controller::sign_digest(spec.sha256(), secret));
            spec.set_public_key(secret.substr(32));
        } else {
            std::string signature_file = options.signature.empty() ? options.file + ".sig" : options.signature;
            if (!options.signature.empty() || std::filesystem::exists(signature_file)) {
                controller::DetachedSignature detached = controller::read_signature(signature_file);
                spec.set_signature(detached.signature);
                spec.set_public_key(detached.public_key);
            }
        }
        std::string batch = options.batch;
        if (!batch.empty() && batch.back() == '%') {
            int percent = std::stoi(batch.substr(0, batch.size() - 1));
            if (percent < 1 || percent > 100)
                throw std::invalid_argument("--batch PERCENT% is 1% to 100%");
            spec.set_batch_percent(static_cast<std::uint32_t>(percent));
        } else if (!batch.empty()) {
            int size = std::stoi(batch);
            if (size < 1)
                throw std::invalid_argument("--batch SIZE is 1 or more");
            spec.set_batch_size(static_cast<std::uint32_t>(size));
        }
        std::int64_t bake = parse_duration_ms(options.bake);
        if (bake > 24ll * 3600 * 1000)
            throw std::invalid_argument("--bake is at most 24h");
        spec.set_bake_ms(static_cast<std::uint32_t>(bake));
    } catch (const std::exception& error) {
        std::fprintf(stderr, "delosctl: %s\n", error.what());
        return kUsage;
    }
    spec.set_cell(options.cell.empty() ? std::filesystem::path(options.file).stem().string() : options.cell);
    // a file named CELL.TAG.o (e.g. kv.v2.o) holds another version of CELL
    if (options.cell.empty() && spec.cell().find('.') != std::string::npos)
        spec.set_cell(spec.cell().substr(0, spec.cell().find('.')));
    spec.set_canary(options.canary);
    spec.set_max_fault_rate(options.max_fault_rate);
    for (const std::string& host : options.hosts)
        spec.add_hosts(host);
    for (const std::string& vm : options.vms)
        spec.add_vms(vm);
    const char* user = std::getenv("USER");
    spec.set_requested_by(user ? user : std::to_string(::getuid()));

    std::string where;
    std::unique_ptr<v1::Controller::Stub> stub;
    try {
        stub = coordinator_stub(global, &where);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "delosctl: %s\n", error.what());
        return kUsage;
    }
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::Rollout started;
    grpc::Status status = stub->StartRollout(&context, request, &started);
    if (!status.ok())
        return rollout_fail(status, where);
    if (options.detach) {
        if (global.output == "json")
            std::printf("%s\n", to_json(started).c_str());
        else
            std::printf("rollout %llu started on %s (delosctl rollout status %llu)\n", static_cast<unsigned long long>(started.id()),
                        where.c_str(), static_cast<unsigned long long>(started.id()));
        return kOk;
    }
    if (global.output != "json")
        std::printf("rollout %llu of %s (%s, sha256 %s) coordinated by %s\n", static_cast<unsigned long long>(started.id()),
                    spec.cell().c_str(), format_bytes(spec.object().size()).c_str(), to_hex(spec.sha256()).substr(0, 12).c_str(),
                    where.c_str());
    return rollout_follow(global, started.id());
}

int rollout_list(const Global& global, bool all)
{
    std::string where;
    auto stub = coordinator_stub(global, &where);
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::ListRolloutsRequest request;
    request.set_active_only(!all);
    v1::ListRolloutsResponse response;
    grpc::Status status = stub->ListRollouts(&context, request, &response);
    if (!status.ok())
        return rollout_fail(status, where);
    if (global.output == "json") {
        std::printf("%s\n", to_json(response).c_str());
        return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const v1::Rollout& rollout : response.rollouts()) {
        std::size_t swapped = 0;
        for (const v1::RolloutTarget& target : rollout.targets())
            swapped += target.state() == v1::ROLLOUT_TARGET_STATE_SWAPPED;
        rows.push_back({std::to_string(rollout.id()), format_time(rollout.created_unix_ms()), rollout.spec().cell(),
                        rollout.new_version().empty() ? "?" : rollout.new_version(), rollout_word(rollout.state()),
                        std::to_string(swapped) + "/" + std::to_string(rollout.targets_size()),
                        std::to_string(rollout.faults()), rollout.requested_by(),
                        rollout.outcome().size() > 60 ? rollout.outcome().substr(0, 57) + "..." : rollout.outcome()});
    }
    print_table({"ID", "STARTED", "CELL", "VERSION", "STATE", "ON NEW", "FAULTS", "BY", "OUTCOME"}, rows);
    return kOk;
}

int rollout_status(const Global& global, std::uint64_t id)
{
    std::string where;
    auto stub = coordinator_stub(global, &where);
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::GetRolloutRequest request;
    request.set_id(id);
    v1::Rollout rollout;
    grpc::Status status = stub->GetRollout(&context, request, &rollout);
    if (!status.ok())
        return rollout_fail(status, where);
    if (global.output == "json") {
        std::printf("%s\n", to_json(rollout).c_str());
        return kOk;
    }
    print_rollout(rollout);
    std::printf("log:\n");
    for (const v1::RolloutLogEntry& entry : rollout.log())
        std::printf("  %s  %s\n", format_time(entry.unix_ms()).c_str(), entry.message().c_str());
    return kOk;
}

int rollout_control(const Global& global, const std::string& action, std::uint64_t id)
{
    std::string where;
    auto stub = coordinator_stub(global, &where);
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::RolloutControlRequest request;
    request.set_id(id);
    const char* user = std::getenv("USER");
    request.set_requested_by(user ? user : std::to_string(::getuid()));
    v1::Rollout rollout;
    grpc::Status status = action == "pause"    ? stub->PauseRollout(&context, request, &rollout)
                        : action == "resume" ? stub->ResumeRollout(&context, request, &rollout)
                                             : stub->AbortRollout(&context, request, &rollout);
    if (!status.ok())
        return rollout_fail(status, where);
    if (global.output == "json")
        std::printf("%s\n", to_json(rollout).c_str());
    else
        std::printf("rollout %llu: %s (%s)\n", static_cast<unsigned long long>(id), rollout_word(rollout.state()).c_str(),
                    action == "abort" ? "rolling back every guest it swapped" : action.c_str());
    return kOk;
}

} // namespace delos::ctl
