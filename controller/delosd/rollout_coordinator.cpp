// rollout_coordinator.cpp: see rollout_coordinator.h.
#include "rollout_coordinator.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cell_signature.h"
#include "daemon_log.h"
#include "fault_store.h"
#include "fleet_file.h"
#include "request_checks.h"
#include "rollout_plan.h"
#include "symbol_names.h"

namespace delos::controller {

using grpc::StatusCode;

struct RolloutCoordinator::Watch {
    std::string host;
    std::thread faults;
    std::thread events;
};

struct RolloutCoordinator::Active {
    v1::Rollout record;
    std::string object;
    bool aborted = false;          // rolled back on request: ends ABORTED
    std::string trigger;           // non-empty: roll back, with this as the outcome
    std::thread engine;
    std::vector<std::unique_ptr<Watch>> watches;
    bool watching = false;
    std::set<std::size_t> swapped_this_run;  // targets seen to swap since this delosd started
};

namespace {

constexpr std::size_t kMaxLogEntries = 200;
constexpr std::size_t kPushChunkBytes = 256u << 10;

bool target_may_run_new(v1::RolloutTargetState state)
{
    return state == v1::ROLLOUT_TARGET_STATE_SWAPPING || state == v1::ROLLOUT_TARGET_STATE_SWAPPED
        || state == v1::ROLLOUT_TARGET_STATE_ROLLING_BACK || state == v1::ROLLOUT_TARGET_STATE_FAILED;
}

std::string name_of(const v1::RolloutTarget& target) { return target.host() + "/" + target.vm(); }

std::string status_text(const grpc::Status& status)
{
    return status.error_message().empty() ? "gRPC status " + std::to_string(status.error_code()) : status.error_message();
}

std::string rate_text(double rate)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", rate);
    return text;
}

std::string object_path(const std::string& state_dir, const std::string& sha_hex)
{
    return state_dir + "/objects/" + sha_hex + ".o";
}

} // namespace

RolloutCoordinator::RolloutCoordinator(CoordinatorSettings settings) : m_settings(std::move(settings))
{
    std::filesystem::create_directories(m_settings.state_dir + "/objects");
    m_store = std::make_unique<RolloutStore>(m_settings.state_dir);
    if (m_settings.metrics) {
        m_rollouts_gauge = &prometheus::BuildGauge()
                                .Name("delos_rollouts")
                                .Help("Rollouts this delosd coordinates (since it started), by state")
                                .Register(*m_settings.metrics);
        m_rollback_seconds = &prometheus::BuildHistogram()
                                  .Name("delos_rollout_rollback_seconds")
                                  .Help("From the first fault (or crash) of a rollout's new version to every guest rolled back")
                                  .Register(*m_settings.metrics)
                                  .Add({}, prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30});
    }
}

RolloutCoordinator::~RolloutCoordinator()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        for (grpc::ClientContext* context : m_calls)
            context->TryCancel();
    }
    m_changed.notify_all();
    for (auto& [id, active] : m_active) {
        if (active->engine.joinable())
            active->engine.join();
        stop_watches(*active);
    }
}

std::shared_ptr<grpc::ClientContext> RolloutCoordinator::call_context(std::chrono::milliseconds timeout)
{
    // Forgotten when the last holder lets go, whatever path it leaves by.
    std::shared_ptr<grpc::ClientContext> context(new grpc::ClientContext, [this](grpc::ClientContext* done) {
        forget_context(done);
        delete done;
    });
    context->set_deadline(std::chrono::system_clock::now() + timeout);
    std::lock_guard lock(m_mutex);
    if (m_stopping)
        context->TryCancel();
    m_calls.insert(context.get());
    return context;
}

void RolloutCoordinator::forget_context(grpc::ClientContext* context)
{
    std::lock_guard lock(m_mutex);
    m_calls.erase(context);
}

std::shared_ptr<v1::Controller::Stub> RolloutCoordinator::stub(const std::string& host)
{
    std::lock_guard lock(m_mutex);
    auto found = m_stubs.find(host);
    if (found != m_stubs.end())
        return found->second;
    const v1::FleetHost* entry = find_fleet_host(m_settings.fleet, host);
    if (!entry)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "host '" + host + "' is not in the coordinator's fleet file");
    auto created = std::shared_ptr<v1::Controller::Stub>(
        v1::Controller::NewStub(connect_controller(fleet_connect_options(m_settings.fleet, *entry))));
    m_stubs[host] = created;
    return created;
}

void RolloutCoordinator::commit(Active& rollout, const std::string& message)
{
    v1::Rollout& record = rollout.record;
    std::int64_t now = unix_ms_now();
    record.set_revision(record.revision() + 1);
    record.set_updated_unix_ms(now);
    if (!message.empty()) {
        v1::RolloutLogEntry* entry = record.add_log();
        entry->set_unix_ms(now);
        entry->set_message(message);
        if (static_cast<std::size_t>(record.log_size()) > kMaxLogEntries)
            record.mutable_log()->DeleteSubrange(0, record.log_size() - static_cast<int>(kMaxLogEntries));
        log_line("info", "rollout", {{"id", std::to_string(record.id())}, {"message", message}});
    }
    std::uint64_t guests_ran_new = 0;
    for (const v1::RolloutTarget& target : record.targets())
        guests_ran_new += target.swapped_unix_ms() != 0;
    record.set_fault_rate(guests_ran_new ? static_cast<double>(record.faults()) / static_cast<double>(guests_ran_new) : 0);
    if (m_rollouts_gauge) {
        std::map<std::string, int> by_state;
        for (int state = v1::ROLLOUT_STATE_PENDING; state <= v1::ROLLOUT_STATE_FAILED; ++state)
            by_state[rollout_state_word(static_cast<v1::RolloutState>(state))] = 0;
        for (auto& [id, active] : m_active)
            ++by_state[rollout_state_word(active->record.state())];
        for (auto& [state, count] : by_state)
            m_rollouts_gauge->Add({{"state", state}}).Set(count);
    }
    try {
        m_store->save(record);
    } catch (const StoreError& error) {
        log_line("error", "cannot store a rollout", {{"id", std::to_string(record.id())}, {"error", error.what()}});
    }
    m_changed.notify_all();
}

RolloutCoordinator::Active& RolloutCoordinator::find(std::uint64_t id)
{
    auto found = m_active.find(id);
    if (found == m_active.end())
        throw RpcError(StatusCode::NOT_FOUND, "no rollout " + std::to_string(id) + " is coordinated by this delosd "
                                                  "(delosctl rollout ls lists them)");
    return *found->second;
}

void RolloutCoordinator::resume_unfinished()
{
    for (v1::Rollout& record : m_store->unfinished()) {
        if (!coordinating()) {
            log_line("warn", "an unfinished rollout waits for a delosd started with --fleet",
                     {{"id", std::to_string(record.id())}});
            continue;
        }
        auto active = std::make_unique<Active>();
        active->record = std::move(record);
        std::ifstream in(object_path(m_settings.state_dir, active->record.sha256()), std::ios::binary);
        std::ostringstream bytes;
        bytes << in.rdbuf();
        active->object = bytes.str();
        active->aborted = active->record.abort_requested();
        if (active->aborted)
            active->trigger = active->record.outcome().empty() ? "aborted" : active->record.outcome();
        Active& ref = *active;
        std::lock_guard lock(m_mutex);
        std::uint64_t id = ref.record.id();
        m_active[id] = std::move(active);
        if (ref.trigger.empty() && sha256_of(ref.object) != ref.record.spec().sha256()) {
            // Without its object the rollout cannot go on; what it swapped can still go back.
            ref.trigger = "the object of this rollout is missing from the store; rolling back";
        }
        commit(ref, "coordinator restarted; resuming from " + rollout_state_word(ref.record.state()));
        ref.engine = std::thread([this, &ref] { run(ref); });
    }
}

v1::Rollout RolloutCoordinator::start(v1::RolloutSpec spec, const std::string& who)
{
    if (!coordinating())
        throw RpcError(StatusCode::FAILED_PRECONDITION,
                       "this delosd coordinates no rollouts: start it with --fleet FILE (docs/fleet.md)");
    check_rollout_spec(spec);
    for (const std::string& host : spec.hosts())
        if (!find_fleet_host(m_settings.fleet, host))
            throw RpcError(StatusCode::INVALID_ARGUMENT, "host '" + host + "' is not in the coordinator's fleet file");
    auto active = std::make_unique<Active>();
    active->object = std::move(*spec.mutable_object());
    spec.clear_object();
    v1::Rollout& record = active->record;
    record.set_sha256(to_hex(spec.sha256()));
    spec.set_requested_by(spec.requested_by().substr(0, 256));
    *record.mutable_spec() = std::move(spec);
    record.set_state(v1::ROLLOUT_STATE_PENDING);
    record.set_requested_by(who);
    record.set_coordinator(m_settings.self_name);
    record.set_created_unix_ms(unix_ms_now());
    {
        std::string path = object_path(m_settings.state_dir, record.sha256());
        std::string temporary = path + ".rollout-" + std::to_string(record.created_unix_ms()) + ".tmp";
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(active->object.data(), static_cast<std::streamsize>(active->object.size()));
        out.flush();
        if (!out)
            throw RpcError(StatusCode::INTERNAL, "cannot keep the object in " + path);
        out.close();
        std::filesystem::rename(temporary, path);
    }
    m_store->create(record);
    Active& ref = *active;
    std::lock_guard lock(m_mutex);
    if (m_stopping)
        throw RpcError(StatusCode::UNAVAILABLE, "delosd is shutting down");
    m_active[record.id()] = std::move(active);
    commit(ref, "rollout of " + ref.record.spec().cell() + " (sha256 " + ref.record.sha256().substr(0, 12) + ") started by "
                    + who);
    ref.engine = std::thread([this, &ref] { run(ref); });
    return ref.record;
}

v1::Rollout RolloutCoordinator::get(std::uint64_t id)
{
    {
        std::lock_guard lock(m_mutex);
        auto found = m_active.find(id);
        if (found != m_active.end())
            return found->second->record;
    }
    if (auto stored = m_store->get(id))
        return *stored;
    throw RpcError(StatusCode::NOT_FOUND, "no rollout " + std::to_string(id) + " (delosctl rollout ls lists them)");
}

std::vector<v1::Rollout> RolloutCoordinator::list(bool active_only, std::uint32_t limit)
{
    if (limit == 0)
        limit = 50;
    if (limit > 1000)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "list at most 1000 rollouts at a time");
    std::vector<v1::Rollout> rollouts = m_store->list(active_only, limit);
    std::lock_guard lock(m_mutex);
    for (v1::Rollout& rollout : rollouts) {
        auto found = m_active.find(rollout.id());
        if (found != m_active.end())
            rollout = found->second->record;  // the store has the same or an older revision
    }
    return rollouts;
}

v1::Rollout RolloutCoordinator::pause(std::uint64_t id, const std::string& who)
{
    std::lock_guard lock(m_mutex);
    Active& rollout = find(id);
    v1::RolloutState state = rollout.record.state();
    if (state == v1::ROLLOUT_STATE_PAUSED)
        return rollout.record;
    if (rollout_final(state) || state == v1::ROLLOUT_STATE_ROLLING_BACK || !rollout.trigger.empty())
        throw RpcError(StatusCode::FAILED_PRECONDITION,
                       "rollout " + std::to_string(id) + " is " + rollout_state_word(state) + ": it cannot be paused");
    rollout.record.set_state(v1::ROLLOUT_STATE_PAUSED);
    commit(rollout, "paused by " + who + " (faults are still watched; a fault still rolls it back)");
    return rollout.record;
}

v1::Rollout RolloutCoordinator::resume(std::uint64_t id, const std::string& who)
{
    std::lock_guard lock(m_mutex);
    Active& rollout = find(id);
    if (rollout.record.state() != v1::ROLLOUT_STATE_PAUSED)
        throw RpcError(StatusCode::FAILED_PRECONDITION, "rollout " + std::to_string(id) + " is "
                                                            + rollout_state_word(rollout.record.state()) + ", not paused");
    bool stage_left = rollout.record.targets().empty();  // not resolved yet: the engine resolves first
    for (const v1::RolloutTarget& target : rollout.record.targets())
        stage_left |= target.stage() == rollout.record.stage()
                   && (target.state() == v1::ROLLOUT_TARGET_STATE_PENDING || target.state() == v1::ROLLOUT_TARGET_STATE_SWAPPING);
    rollout.record.set_state(rollout.record.targets().empty() ? v1::ROLLOUT_STATE_PENDING
                             : stage_left                     ? v1::ROLLOUT_STATE_SWAPPING
                                                              : v1::ROLLOUT_STATE_BAKING);
    commit(rollout, "resumed by " + who);
    return rollout.record;
}

v1::Rollout RolloutCoordinator::abort(std::uint64_t id, const std::string& who)
{
    std::lock_guard lock(m_mutex);
    Active& rollout = find(id);
    if (rollout_final(rollout.record.state()))
        throw RpcError(StatusCode::FAILED_PRECONDITION, "rollout " + std::to_string(id) + " has ended ("
                                                            + rollout_state_word(rollout.record.state()) + ")");
    if (!rollout.aborted && rollout.trigger.empty()) {
        rollout.aborted = true;
        rollout.record.set_abort_requested(true);
        rollout.trigger = "aborted by " + who;
        rollout.record.set_outcome(rollout.trigger);
        commit(rollout, "abort requested by " + who + ": rolling back every guest it swapped");
    }
    return rollout.record;
}

v1::Rollout RolloutCoordinator::wait_for_change(std::uint64_t id, std::uint64_t after_revision,
                                                std::chrono::milliseconds limit)
{
    std::unique_lock lock(m_mutex);
    auto found = m_active.find(id);
    if (found == m_active.end()) {
        lock.unlock();
        return get(id);  // not coordinated by this run: what the store has, it does not change
    }
    Active& rollout = *found->second;
    m_changed.wait_for(lock, limit, [&] { return m_stopping || rollout.record.revision() > after_revision; });
    return rollout.record;
}

// ---------------------------------------------------------------------------------------------
// The engine: one thread per rollout.

void RolloutCoordinator::run(Active& rollout)
{
    try {
        bool resolved;
        {
            std::lock_guard lock(m_mutex);
            resolved = !rollout.record.targets().empty();
        }
        if (!resolved) {
            resolve(rollout);
            std::lock_guard lock(m_mutex);
            if (rollout_final(rollout.record.state()))
                return;
        }
        start_watches(rollout);
        std::unique_lock lock(m_mutex);
        for (;;) {
            if (m_stopping)
                return;  // delosd is stopping: the record stays as it is, resumed at the next start
            if (!rollout.trigger.empty()) {
                lock.unlock();
                roll_back(rollout);
                stop_watches(rollout);
                return;
            }
            v1::Rollout& record = rollout.record;
            switch (record.state()) {
            case v1::ROLLOUT_STATE_PENDING:
            case v1::ROLLOUT_STATE_SWAPPING:
                lock.unlock();
                swap_stage(rollout);
                lock.lock();
                break;
            case v1::ROLLOUT_STATE_BAKING: {
                std::int64_t left = record.bake_until_unix_ms() - unix_ms_now();
                if (left > 0) {
                    m_changed.wait_for(lock, std::chrono::milliseconds(std::min<std::int64_t>(left, 200)));
                    break;
                }
                if (record.stage() + 1 < record.stages()) {
                    record.set_stage(record.stage() + 1);
                    record.set_state(v1::ROLLOUT_STATE_SWAPPING);
                    commit(rollout, "stage " + std::to_string(record.stage()) + " baked with no fault over the limit; "
                                        "next: stage " + std::to_string(record.stage() + 1) + " of " + std::to_string(record.stages()));
                    break;
                }
                record.set_state(v1::ROLLOUT_STATE_SUCCEEDED);
                record.set_finished_unix_ms(unix_ms_now());
                record.set_outcome("every target runs " + record.spec().cell() + " " + record.new_version());
                commit(rollout, "succeeded: " + std::to_string(record.targets_size()) + " guests run "
                                    + record.spec().cell() + " " + record.new_version());
                lock.unlock();
                stop_watches(rollout);
                return;
            }
            case v1::ROLLOUT_STATE_PAUSED:
                m_changed.wait_for(lock, std::chrono::milliseconds(200));
                break;
            case v1::ROLLOUT_STATE_ROLLING_BACK:
                rollout.aborted = record.abort_requested();
                rollout.trigger = record.outcome().empty() ? "rolling back" : record.outcome();
                break;
            default:
                return;  // final
            }
        }
    } catch (const std::exception& error) {
        log_line("error", "rollout engine failed", {{"id", std::to_string(rollout.record.id())}, {"error", error.what()}});
        std::lock_guard lock(m_mutex);
        if (!rollout_final(rollout.record.state()) && !m_stopping) {
            rollout.record.set_state(v1::ROLLOUT_STATE_FAILED);
            rollout.record.set_outcome(std::string("the coordinator failed: ") + error.what());
            rollout.record.set_finished_unix_ms(unix_ms_now());
            commit(rollout, rollout.record.outcome());
        }
    }
}

void RolloutCoordinator::resolve(Active& rollout)
{
    v1::RolloutSpec spec;
    {
        std::lock_guard lock(m_mutex);
        spec = rollout.record.spec();
        commit(rollout, "finding the guests that run " + spec.cell());
    }
    std::vector<std::string> hosts(spec.hosts().begin(), spec.hosts().end());
    if (hosts.empty())
        for (const v1::FleetHost& host : m_settings.fleet.hosts())
            hosts.push_back(host.name());

    struct HostAnswer {
        v1::RolloutHost host;
        std::vector<v1::RolloutTarget> targets;
    };
    std::vector<HostAnswer> answers(hosts.size());
    std::vector<std::thread> askers;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        askers.emplace_back([&, i] {
            HostAnswer& answer = answers[i];
            answer.host.set_name(hosts[i]);
            if (const v1::FleetHost* entry = find_fleet_host(m_settings.fleet, hosts[i]))
                answer.host.set_address(entry->address());
            try {
                auto peer = stub(hosts[i]);
                auto context = call_context(std::chrono::milliseconds(10000));
                v1::ListVmsResponse vms;
                grpc::Status status = peer->ListVms(context.get(), v1::ListVmsRequest(), &vms);
                forget_context(context.get());
                if (!status.ok())
                    throw RpcError(status.error_code(), status_text(status));
                std::string first_vm;
                for (const v1::Vm& vm : vms.vms()) {
                    if (vm.state() != v1::VM_STATE_RUNNING || !target_selected(spec, hosts[i], vm.spec().name()))
                        continue;
                    auto cells_context = call_context(std::chrono::milliseconds(10000));
                    v1::ListCellsOnVmRequest request;
                    request.set_vm(vm.spec().name());
                    v1::ListCellsOnVmResponse cells;
                    grpc::Status listed = peer->ListCells(cells_context.get(), request, &cells);
                    forget_context(cells_context.get());
                    if (!listed.ok())
                        continue;  // a guest that cannot say what it runs is not a target
                    for (const v1::CellInfo& cell : cells.cells()) {
                        if (cell.name() != spec.cell() || cell.state() != v1::CELL_STATE_LOADED)
                            continue;
                        v1::RolloutTarget target;
                        target.set_host(hosts[i]);
                        target.set_vm(vm.spec().name());
                        target.set_state(v1::ROLLOUT_TARGET_STATE_PENDING);
                        target.set_old_version(cell.version());
                        target.set_boot_id(vm.boot_id());
                        answer.targets.push_back(std::move(target));
                        if (first_vm.empty())
                            first_vm = vm.spec().name();
                        break;
                    }
                }
                // Where the fault and event streams are now: the watches start there.
                if (!first_vm.empty()) {
                    auto stats_context = call_context(std::chrono::milliseconds(10000));
                    v1::GetStatsRequest request;
                    request.set_vm(first_vm);
                    v1::GetStatsResponse stats;
                    grpc::Status asked = peer->GetStats(stats_context.get(), request, &stats);
                    forget_context(stats_context.get());
                    if (asked.ok()) {
                        answer.host.set_event_cursor(stats.events_stored());
                        // faults_stored counts rows; the watch filters by version and time anyway, so a
                        // cursor that is a little early only costs re-reading a few faults.
                        answer.host.set_fault_cursor(stats.faults_stored() > 0 ? stats.faults_stored() - 1 : 0);
                    }
                }
                answer.host.set_reachable(true);
            } catch (const std::exception& error) {
                answer.host.set_reachable(false);
                answer.host.set_error(error.what());
            }
        });
    }
    for (std::thread& asker : askers)
        asker.join();

    std::lock_guard lock(m_mutex);
    v1::Rollout& record = rollout.record;
    std::vector<v1::RolloutTarget> targets;
    std::string unreachable;
    for (HostAnswer& answer : answers) {
        *record.add_hosts() = answer.host;
        if (!answer.host.reachable())
            unreachable += (unreachable.empty() ? "" : "; ") + answer.host.name() + ": " + answer.host.error();
        for (v1::RolloutTarget& target : answer.targets)
            targets.push_back(std::move(target));
    }
    auto fail = [&](const std::string& why) {
        record.set_state(v1::ROLLOUT_STATE_FAILED);
        record.set_outcome(why);
        record.set_finished_unix_ms(unix_ms_now());
        commit(rollout, "failed before any swap: " + why);
    };
    if (!unreachable.empty())
        return fail("hosts unreachable, nothing swapped: " + unreachable);
    if (targets.empty())
        return fail("no running guest on the fleet has " + spec.cell() + " loaded");
    std::uint32_t stages = plan_stages(targets, spec);
    for (v1::RolloutTarget& target : targets)
        *record.add_targets() = std::move(target);
    record.set_stages(stages);
    record.set_stage(0);
    if (record.state() != v1::ROLLOUT_STATE_PAUSED)
        record.set_state(v1::ROLLOUT_STATE_SWAPPING);
    std::uint32_t canary = 0;
    for (const v1::RolloutTarget& target : record.targets())
        canary += target.stage() == 0;
    commit(rollout, std::to_string(record.targets_size()) + " guests on " + std::to_string(answers.size()) + " hosts run "
                        + spec.cell() + ": " + std::to_string(stages) + " stages, canary " + std::to_string(canary)
                        + " guest" + (canary == 1 ? "" : "s") + " (" + name_of(record.targets(0)) + (canary > 1 ? ", ..." : "") + ")");
}

void RolloutCoordinator::swap_stage(Active& rollout)
{
    std::vector<std::size_t> indexes;
    {
        std::lock_guard lock(m_mutex);
        v1::Rollout& record = rollout.record;
        if (record.state() == v1::ROLLOUT_STATE_PENDING) {  // resumed before it had resolved
            record.set_state(v1::ROLLOUT_STATE_SWAPPING);
        }
        for (int i = 0; i < record.targets_size(); ++i) {
            const v1::RolloutTarget& target = record.targets(i);
            if (target.stage() == record.stage()
                && (target.state() == v1::ROLLOUT_TARGET_STATE_PENDING || target.state() == v1::ROLLOUT_TARGET_STATE_SWAPPING))
                indexes.push_back(static_cast<std::size_t>(i));
        }
        if (!indexes.empty())
            commit(rollout, "stage " + std::to_string(record.stage() + 1) + " of " + std::to_string(record.stages())
                                + (record.stage() == 0 ? " (canary)" : "") + ": swapping " + std::to_string(indexes.size())
                                + " guest" + (indexes.size() == 1 ? "" : "s"));
    }
    std::vector<std::thread> swaps;
    for (std::size_t index : indexes)
        swaps.emplace_back([this, &rollout, index] { swap_target(rollout, index); });
    for (std::thread& swap : swaps)
        swap.join();
    std::lock_guard lock(m_mutex);
    v1::Rollout& record = rollout.record;
    if (m_stopping)
        return;
    record.set_bake_until_unix_ms(unix_ms_now() + record.spec().bake_ms());
    if (record.state() == v1::ROLLOUT_STATE_SWAPPING)
        record.set_state(v1::ROLLOUT_STATE_BAKING);
    commit(rollout, rollout.trigger.empty() ? "stage " + std::to_string(record.stage() + 1) + " swapped; baking "
                                                  + std::to_string(record.spec().bake_ms()) + " ms"
                                            : std::string());
}

void RolloutCoordinator::swap_target(Active& rollout, std::size_t index)
{
    std::string host, vm;
    v1::PushCellHeader header;
    bool unsure;
    {
        std::lock_guard lock(m_mutex);
        if (!rollout.trigger.empty() || m_stopping)
            return;
        v1::RolloutTarget& target = *rollout.record.mutable_targets(static_cast<int>(index));
        host = target.host();
        vm = target.vm();
        const v1::RolloutSpec& spec = rollout.record.spec();
        header.set_vm(vm);
        header.set_cell(spec.cell());
        header.set_total_size(rollout.object.size());
        header.set_sha256(spec.sha256());
        header.set_action(v1::PUSH_ACTION_SWAP);
        header.set_signature(spec.signature());
        header.set_public_key(spec.public_key());
        header.set_pushed_by("rollout " + std::to_string(rollout.record.id()) + " by " + rollout.record.requested_by());
        // A target left "swapping" by a coordinator that stopped mid-swap may have swapped: look first.
        unsure = target.state() == v1::ROLLOUT_TARGET_STATE_SWAPPING;
        target.set_state(v1::ROLLOUT_TARGET_STATE_SWAPPING);
        commit(rollout);
    }
    auto running_new = [&](std::string* version) -> int {  // 1 yes, 0 no, -1 cannot tell
        try {
            auto context = call_context(m_settings.call_timeout);
            v1::ListCellsOnVmRequest request;
            request.set_vm(vm);
            v1::ListCellsOnVmResponse cells;
            grpc::Status status = stub(host)->ListCells(context.get(), request, &cells);
            forget_context(context.get());
            if (!status.ok())
                return -1;
            for (const v1::CellInfo& cell : cells.cells()) {
                if (cell.name() == header.cell() && cell.state() == v1::CELL_STATE_LOADED) {
                    if (version)
                        *version = cell.version();
                    return cell.sha256() == header.sha256() ? 1 : 0;
                }
            }
            return 0;
        } catch (const std::exception&) {
            return -1;
        }
    };
    std::string new_version, error;
    bool swapped = false;
    if (unsure && running_new(&new_version) == 1) {
        swapped = true;
    } else {
        try {
            auto context = call_context(m_settings.call_timeout);
            v1::PushCellResponse response;
            auto writer = stub(host)->PushCell(context.get(), &response);
            v1::PushCellRequest part;
            *part.mutable_header() = header;
            bool sent = writer->Write(part);
            for (std::size_t offset = 0; sent && offset < rollout.object.size(); offset += kPushChunkBytes) {
                part.set_chunk(rollout.object.substr(offset, kPushChunkBytes));
                sent = writer->Write(part);
            }
            writer->WritesDone();
            grpc::Status status = writer->Finish();
            forget_context(context.get());
            if (status.ok()) {
                swapped = true;
                new_version = response.cell().version();
            } else {
                error = status_text(status);
                // Lost on the way: the swap may have taken. Ask.
                if (status.error_code() == StatusCode::UNAVAILABLE || status.error_code() == StatusCode::DEADLINE_EXCEEDED)
                    swapped = running_new(&new_version) == 1;
            }
        } catch (const std::exception& failure) {
            error = failure.what();
        }
    }
    std::lock_guard lock(m_mutex);
    v1::Rollout& record = rollout.record;
    v1::RolloutTarget& target = *record.mutable_targets(static_cast<int>(index));
    if (swapped) {
        target.set_state(v1::ROLLOUT_TARGET_STATE_SWAPPED);
        target.set_new_version(new_version);
        target.set_swapped_unix_ms(unix_ms_now());
        target.clear_error();
        rollout.swapped_this_run.insert(index);
        if (record.new_version().empty())
            record.set_new_version(new_version);
        commit(rollout, "swapped " + name_of(target) + ": " + record.spec().cell() + " " + target.old_version() + " -> "
                            + new_version);
        return;
    }
    target.set_state(v1::ROLLOUT_TARGET_STATE_FAILED);
    target.set_error(error);
    if (rollout.trigger.empty())
        rollout.trigger = "the swap on " + name_of(target) + " failed: " + error;
    commit(rollout, "swap on " + name_of(target) + " failed: " + error);
}

void RolloutCoordinator::roll_back(Active& rollout)
{
    std::vector<std::size_t> indexes;
    {
        std::lock_guard lock(m_mutex);
        v1::Rollout& record = rollout.record;
        record.set_state(v1::ROLLOUT_STATE_ROLLING_BACK);
        record.set_outcome(rollout.trigger);
        for (int i = 0; i < record.targets_size(); ++i) {
            v1::RolloutTarget& target = *record.mutable_targets(i);
            if (target_may_run_new(target.state()))
                indexes.push_back(static_cast<std::size_t>(i));
            else if (target.state() == v1::ROLLOUT_TARGET_STATE_PENDING)
                target.set_state(v1::ROLLOUT_TARGET_STATE_SKIPPED);
        }
        commit(rollout, "rolling back " + std::to_string(indexes.size()) + " guest" + (indexes.size() == 1 ? "" : "s")
                            + ": " + rollout.trigger);
    }
    std::vector<std::thread> rollbacks;
    for (std::size_t index : indexes)
        rollbacks.emplace_back([this, &rollout, index] { roll_back_target(rollout, index); });
    for (std::thread& rollback : rollbacks)
        rollback.join();
    std::lock_guard lock(m_mutex);
    if (m_stopping)
        return;  // resumed (still rolling back) at the next start
    v1::Rollout& record = rollout.record;
    bool all_back = true;
    for (const v1::RolloutTarget& target : record.targets())
        all_back &= target.state() != v1::ROLLOUT_TARGET_STATE_ROLLING_BACK
                 && !(target.state() == v1::ROLLOUT_TARGET_STATE_FAILED && target.swapped_unix_ms() != 0);
    record.set_rolled_back_unix_ms(unix_ms_now());
    record.set_finished_unix_ms(record.rolled_back_unix_ms());
    record.set_state(!all_back ? v1::ROLLOUT_STATE_FAILED
                     : rollout.aborted ? v1::ROLLOUT_STATE_ABORTED
                                       : v1::ROLLOUT_STATE_ROLLED_BACK);
    if (!all_back)
        record.set_outcome(rollout.trigger + "; the rollback did not take everywhere (see the targets)");
    if (m_rollback_seconds && record.first_fault_unix_ms() && !rollout.aborted)
        m_rollback_seconds->Observe(static_cast<double>(record.rolled_back_unix_ms() - record.first_fault_unix_ms()) / 1000.0);
    commit(rollout, rollout_state_word(record.state()) + ": " + record.outcome());
}

void RolloutCoordinator::roll_back_target(Active& rollout, std::size_t index)
{
    std::string host, vm, cell, sha;
    {
        std::lock_guard lock(m_mutex);
        v1::RolloutTarget& target = *rollout.record.mutable_targets(static_cast<int>(index));
        host = target.host();
        vm = target.vm();
        cell = rollout.record.spec().cell();
        sha = rollout.record.spec().sha256();
        // The guest is always asked what it runs, before and after each rollback: its own fault
        // recovery may roll a cell back by itself (a fault right after a swap), and a rollback
        // on top of that would put the new version back (docs/fleet.md).
        target.set_state(v1::ROLLOUT_TARGET_STATE_ROLLING_BACK);
    }
    std::string error, note;
    bool back = false;
    std::string rolled_back_to;  // set once a RollbackCell of ours succeeded
    for (int attempt = 0; attempt < 6 && !back; ++attempt) {
        if (attempt > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping)
                return;
        }
        try {
            auto peer = stub(host);
            {
                auto context = call_context(m_settings.call_timeout);
                v1::ListCellsOnVmRequest request;
                request.set_vm(vm);
                v1::ListCellsOnVmResponse cells;
                grpc::Status status = peer->ListCells(context.get(), request, &cells);
                forget_context(context.get());
                if (!status.ok()) {
                    error = status_text(status);
                    continue;
                }
                bool on_new = false;
                for (const v1::CellInfo& info : cells.cells())
                    on_new |= info.name() == cell && info.state() == v1::CELL_STATE_LOADED && info.sha256() == sha;
                if (!on_new) {
                    back = true;
                    note = rolled_back_to.empty() ? "it no longer ran the new version (restarted, or rolled back by itself)"
                                                  : "back on " + rolled_back_to;
                    break;
                }
            }
            auto context = call_context(m_settings.call_timeout);
            v1::CellRequest request;
            request.set_vm(vm);
            request.set_cell(cell);
            request.set_requested_by("rollout " + std::to_string(rollout.record.id()));
            v1::CellResponse response;
            grpc::Status status = peer->RollbackCell(context.get(), request, &response);
            forget_context(context.get());
            if (status.ok()) {
                rolled_back_to = response.cell().version();
                error = "it still ran the new version after a rollback";  // unless the next look says otherwise
            } else {
                error = status_text(status);
            }
        } catch (const std::exception& failure) {
            error = failure.what();
        }
    }
    std::lock_guard lock(m_mutex);
    v1::RolloutTarget& target = *rollout.record.mutable_targets(static_cast<int>(index));
    if (back) {
        target.set_state(v1::ROLLOUT_TARGET_STATE_ROLLED_BACK);
        target.set_rolled_back_unix_ms(unix_ms_now());
        commit(rollout, "rolled back " + name_of(target) + ": " + note);
    } else {
        target.set_state(v1::ROLLOUT_TARGET_STATE_FAILED);
        target.set_error("rollback failed: " + error);
        commit(rollout, "rollback on " + name_of(target) + " failed: " + error);
    }
}

// ---------------------------------------------------------------------------------------------
// Watching the hosts while the new version runs.

void RolloutCoordinator::start_watches(Active& rollout)
{
    std::set<std::string> hosts;
    {
        std::lock_guard lock(m_mutex);
        if (rollout.watching)
            return;
        rollout.watching = true;
        for (const v1::RolloutTarget& target : rollout.record.targets())
            hosts.insert(target.host());
    }
    for (const std::string& host : hosts) {
        auto watch = std::make_unique<Watch>();
        watch->host = host;
        Watch& ref = *watch;
        rollout.watches.push_back(std::move(watch));
        ref.faults = std::thread([this, &rollout, &ref] { watch_faults(rollout, ref); });
        ref.events = std::thread([this, &rollout, &ref] { watch_events(rollout, ref); });
    }
}

void RolloutCoordinator::stop_watches(Active& rollout)
{
    {
        std::lock_guard lock(m_mutex);
        rollout.watching = false;
        // the watch threads see watching == false and cancel their own streams
    }
    m_changed.notify_all();
    for (auto& watch : rollout.watches) {
        if (watch->faults.joinable())
            watch->faults.join();
        if (watch->events.joinable())
            watch->events.join();
    }
    rollout.watches.clear();
}

namespace {

// Reads a server stream on its own thread; cancels it when `keep_going` turns false.
template <typename Record, typename Open, typename Handle, typename KeepGoing>
void read_stream(Open&& open, Handle&& handle, KeepGoing&& keep_going, std::string* error)
{
    grpc::ClientContext context;
    auto reader = open(context);
    std::atomic<bool> done{false};
    std::thread canceller([&] {
        while (!done.load()) {
            if (!keep_going()) {
                context.TryCancel();
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    Record record;
    while (reader->Read(&record))
        handle(record);
    grpc::Status status = reader->Finish();
    done = true;
    canceller.join();
    if (!status.ok() && error)
        *error = status_text(status);
}

} // namespace

void RolloutCoordinator::watch_faults(Active& rollout, Watch& watch)
{
    auto keep_going = [&] {
        std::lock_guard lock(m_mutex);
        return rollout.watching && !m_stopping;
    };
    std::chrono::milliseconds backoff(100);
    while (keep_going()) {
        std::uint64_t cursor = 0;
        v1::WatchFaultsRequest request;
        {
            std::lock_guard lock(m_mutex);
            for (const v1::RolloutHost& host : rollout.record.hosts())
                if (host.name() == watch.host)
                    cursor = host.fault_cursor();
            request.mutable_filter()->set_cell(rollout.record.spec().cell());
        }
        request.set_after_sequence(cursor);
        std::string error;
        try {
            auto peer = stub(watch.host);
            read_stream<v1::FaultRecord>(
                [&](grpc::ClientContext& context) { return peer->WatchFaults(&context, request); },
                [&](const v1::FaultRecord& fault) {
                    note_fault(rollout, watch.host, fault);
                    backoff = std::chrono::milliseconds(100);
                },
                keep_going, &error);
        } catch (const std::exception& failure) {
            error = failure.what();
        }
        if (!keep_going())
            return;
        {
            std::lock_guard lock(m_mutex);
            for (v1::RolloutHost& host : *rollout.record.mutable_hosts()) {
                if (host.name() == watch.host && host.reachable()) {
                    host.set_reachable(false);
                    host.set_error(error);
                    commit(rollout, "lost the fault stream of " + watch.host + ": " + error + " (reconnecting)");
                }
            }
        }
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
}

void RolloutCoordinator::watch_events(Active& rollout, Watch& watch)
{
    auto keep_going = [&] {
        std::lock_guard lock(m_mutex);
        return rollout.watching && !m_stopping;
    };
    std::chrono::milliseconds backoff(100);
    while (keep_going()) {
        v1::WatchEventsRequest request;
        {
            std::lock_guard lock(m_mutex);
            for (const v1::RolloutHost& host : rollout.record.hosts())
                if (host.name() == watch.host)
                    request.set_after_sequence(host.event_cursor());
        }
        std::string error;
        try {
            auto peer = stub(watch.host);
            read_stream<v1::EventRecord>(
                [&](grpc::ClientContext& context) { return peer->WatchEvents(&context, request); },
                [&](const v1::EventRecord& event) {
                    note_event(rollout, watch.host, event);
                    backoff = std::chrono::milliseconds(100);
                },
                keep_going, &error);
        } catch (const std::exception& failure) {
            error = failure.what();
        }
        if (!keep_going())
            return;
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
}

void RolloutCoordinator::note_fault(Active& rollout, const std::string& host, const v1::FaultRecord& fault)
{
    std::lock_guard lock(m_mutex);
    v1::Rollout& record = rollout.record;
    bool changed = false;
    for (v1::RolloutHost& entry : *record.mutable_hosts()) {
        if (entry.name() != host)
            continue;
        if (fault.sequence() <= entry.fault_cursor())
            return;  // seen before (a reconnect re-reads from the cursor)
        entry.set_fault_cursor(fault.sequence());
        if (!entry.reachable()) {
            entry.set_reachable(true);
            entry.clear_error();
            changed = true;
        }
    }
    const v1::FaultReport& report = fault.report();
    bool of_new_version = fault.cell_sha256() == record.sha256()
                       || (!record.new_version().empty() && report.cell_version() == record.new_version());
    v1::RolloutTarget* hit = nullptr;
    for (v1::RolloutTarget& target : *record.mutable_targets())
        if (target.host() == host && target.vm() == fault.vm() && target_may_run_new(target.state()))
            hit = &target;
    if (report.cell_name() != record.spec().cell() || !of_new_version || !hit
        || fault.received_unix_ms() < record.created_unix_ms()) {
        if (changed)
            commit(rollout);
        return;  // the cursor moves in memory; stored with the next change
    }
    hit->set_faults(hit->faults() + 1);
    record.set_faults(record.faults() + 1);
    if (record.first_fault_unix_ms() == 0 || fault.received_unix_ms() < record.first_fault_unix_ms())
        record.set_first_fault_unix_ms(fault.received_unix_ms());
    std::uint64_t guests = 0;
    for (const v1::RolloutTarget& target : record.targets())
        guests += target.swapped_unix_ms() != 0 || target.state() == v1::ROLLOUT_TARGET_STATE_SWAPPING;
    std::string kind = v1::FaultKind_Name(report.kind());
    kind = kind.rfind("FAULT_KIND_", 0) == 0 ? kind.substr(11) : "fault";
    for (char& c : kind)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string what = "fault " + std::to_string(fault.sequence()) + " on " + host + "/" + fault.vm() + ": " + kind + " in "
                     + report.cell_name() + "@" + report.cell_version() + " at " + short_symbol_and_offset(report.symbol(), report.symbol_offset());
    std::string message = what;
    if (rollout.trigger.empty() && fault_rate_exceeded(record.faults(), guests, record.spec().max_fault_rate())) {
        rollout.trigger = "the new version's fault rate " + rate_text(static_cast<double>(record.faults()) / std::max<std::uint64_t>(guests, 1))
                        + " faults/guest passed the limit " + rate_text(record.spec().max_fault_rate()) + " (" + what + ")";
        message += "; fault rate over the limit: rolling back";
    }
    commit(rollout, message);
}

void RolloutCoordinator::note_event(Active& rollout, const std::string& host, const v1::EventRecord& event)
{
    std::lock_guard lock(m_mutex);
    v1::Rollout& record = rollout.record;
    for (v1::RolloutHost& entry : *record.mutable_hosts())
        if (entry.name() == host && event.sequence() > entry.event_cursor())
            entry.set_event_cursor(event.sequence());
    bool crash = event.kind() == v1::EVENT_VM_EXITED || event.kind() == v1::EVENT_NEW_BOOT;
    if (!crash || event.unix_ms() < record.created_unix_ms())
        return;
    for (const v1::RolloutTarget& target : record.targets()) {
        if (target.host() != host || target.vm() != event.vm())
            continue;
        if (target.state() != v1::ROLLOUT_TARGET_STATE_SWAPPED && target.state() != v1::ROLLOUT_TARGET_STATE_SWAPPING)
            return;
        if (event.kind() == v1::EVENT_NEW_BOOT && event.boot_id() != 0 && event.boot_id() == target.boot_id())
            return;
        std::string what = "guest " + name_of(target) + " running the new version "
                         + (event.kind() == v1::EVENT_VM_EXITED ? "exited" : "rebooted") + ": " + event.message();
        if (rollout.trigger.empty())
            rollout.trigger = what;
        if (record.first_fault_unix_ms() == 0)
            record.set_first_fault_unix_ms(event.unix_ms());
        commit(rollout, what + "; rolling back");
        return;
    }
}

} // namespace delos::controller
