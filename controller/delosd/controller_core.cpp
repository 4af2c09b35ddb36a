// controller_core.cpp: see controller_core.h.
#include "controller_core.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <fstream>

#include "abi/channel_limits.h"
#include "cell_push.h"
#include "cell_signature.h"
#include "daemon_log.h"
#include "streaming_push.h"
#include "symbol_names.h"

namespace delos::controller {

namespace {

using grpc::StatusCode;

std::string lower_enum_name(std::string name, const char* prefix)
{
    if (name.rfind(prefix, 0) == 0)
        name = name.substr(std::strlen(prefix));
    for (char& c : name)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name.empty() ? "unknown" : name;
}

std::string fault_kind_label(v1::FaultKind kind)
{
    std::string name = v1::FaultKind_Name(kind);
    return name.empty() ? "kind-" + std::to_string(static_cast<int>(kind)) : lower_enum_name(name, "FAULT_KIND_");
}

// A guest's error as the gRPC status that tells the user the same thing.
StatusCode code_for_guest(v1::StatusCode code)
{
    switch (code) {
    case v1::STATUS_INVALID_ARGUMENT:
    case v1::STATUS_MALFORMED:
    case v1::STATUS_OUT_OF_RANGE:
    case v1::STATUS_OVERFLOW:
        return StatusCode::INVALID_ARGUMENT;
    case v1::STATUS_UNSUPPORTED:
        return StatusCode::UNIMPLEMENTED;
    case v1::STATUS_NOT_FOUND:
        return StatusCode::NOT_FOUND;
    case v1::STATUS_ALREADY_EXISTS:
        return StatusCode::ALREADY_EXISTS;
    case v1::STATUS_BUSY:
        return StatusCode::FAILED_PRECONDITION;
    case v1::STATUS_OUT_OF_MEMORY:
        return StatusCode::RESOURCE_EXHAUSTED;
    case v1::STATUS_PERMISSION_DENIED:
        return StatusCode::PERMISSION_DENIED;
    case v1::STATUS_TIMEOUT:
        return StatusCode::DEADLINE_EXCEEDED;
    default:
        return StatusCode::INTERNAL;
    }
}


// What the guest holds now, for the cells gauge (after anything that changes it).
std::vector<v1::CellInfo> list_guest_cells(chan::ChannelClient& client)
{
    v1::HostMessage list;
    list.mutable_list_cells();
    v1::Reply listed = client.call(std::move(list));
    return {listed.list_cells().cells().begin(), listed.list_cells().cells().end()};
}

// Asks the guest to swap cells (all or nothing) or roll back one (rollback: `cells` holds one);
// the guest's report.
v1::CellSwapped swap_on_guest(chan::ChannelClient& client, const std::vector<std::string>& cells, bool rollback)
{
    v1::HostMessage request;
    if (rollback) {
        request.mutable_rollback_cell()->set_name(cells.at(0));
    } else {
        for (const std::string& cell : cells) {
            v1::SwapPair* pair = request.mutable_swap_cells()->add_pairs();
            pair->set_old_cell(cell);  // new_object empty: the version staged under the same name
        }
    }
    v1::Reply reply = client.call(std::move(request));
    return rollback ? reply.rollback_cell().swapped() : reply.swap_cells().swapped();
}

// The loaded cell of that name in a listing, or one carrying just the name.
v1::CellInfo loaded_cell(const std::vector<v1::CellInfo>& cells, const std::string& name)
{
    for (const v1::CellInfo& cell : cells) {
        if (cell.name() == name && cell.state() == v1::CELL_STATE_LOADED)
            return cell;
    }
    v1::CellInfo named;
    named.set_name(name);
    return named;
}

} // namespace

ControllerCore::ControllerCore(CoreSettings settings, DaemonMetrics& metrics)
    : m_settings(std::move(settings)), m_metrics(metrics)
{
    if (!m_settings.allow_unsigned) {
        if (m_settings.trusted_keys_dir.empty())
            throw std::runtime_error("no --trusted-keys DIR given: pushes must be signed by a trusted key "
                                     "(or start delosd with --allow-unsigned)");
        m_trusted_keys = load_trusted_keys(m_settings.trusted_keys_dir);
        if (m_trusted_keys.empty())
            log_line("warn", "no *.pub keys in the trusted-keys directory: every push will be refused",
                     {{"dir", m_settings.trusted_keys_dir}});
    }
    std::filesystem::create_directories(m_settings.runner.state_dir + "/objects");
    m_store = std::make_unique<FaultStore>(m_settings.runner.state_dir);
    m_settings.runner.clone_templates
        = std::make_shared<CloneTemplates>(m_settings.runner.state_dir + "/templates", m_settings.runner.qemu_path);
    std::vector<std::shared_ptr<VmInstance>> restored;
    std::vector<StoredVm> stored_vms = m_store->load_vms();
    std::set<std::string> clone_slots;
    for (const StoredVm& stored : stored_vms)
        if (stored.spec.runner() == v1::RUNNER_CLONE)
            clone_slots.insert(m_settings.runner.clone_templates->slot_of(stored.spec));
    m_settings.runner.clone_templates->retain_only_slots(clone_slots);  // templates no VM names, unfinished builds
    for (StoredVm& stored : stored_vms) {
        std::string name = stored.spec.name();
        auto vm = std::make_shared<VmInstance>(std::move(stored), m_settings.runner, *m_store, *this);
        m_vms[name] = vm;
        restored.push_back(vm);
    }
    for (auto& vm : restored)
        vm->start();
    vm_state_changed();
    if (!restored.empty())
        log_line("info", "restored VMs from the store", {{"count", std::to_string(restored.size())}});
}

ControllerCore::~ControllerCore()
{
    std::map<std::string, std::shared_ptr<VmInstance>> vms;
    {
        std::lock_guard lock(m_mutex);
        vms.swap(m_vms);
    }
    vms.clear();  // outside the lock: instances join threads that report back here
}

std::shared_ptr<VmInstance> ControllerCore::find(const std::string& name)
{
    if (name.empty())
        throw RpcError(StatusCode::INVALID_ARGUMENT, "no VM name given");
    std::lock_guard lock(m_mutex);
    auto found = m_vms.find(name);
    if (found == m_vms.end())
        throw RpcError(StatusCode::NOT_FOUND, "no VM named '" + name + "' (delosctl vm ls lists them)");
    return found->second;
}

std::shared_ptr<VmInstance> ControllerCore::find_running(const std::string& name)
{
    auto vm = find(name);
    if (!vm->link().connected())
        throw RpcError(StatusCode::UNAVAILABLE,
                       "VM '" + name + "' is " + lower_enum_name(v1::VmState_Name(vm->state()), "VM_STATE_")
                           + ": its guest has no open channel session; wait for it to run (delosctl vm get " + name + ")");
    return vm;
}

void ControllerCore::check_vm_filter(const std::string& vm)
{
    if (vm.empty())
        return;
    {
        std::lock_guard lock(m_mutex);
        if (m_vms.count(vm))
            return;
    }
    if (m_store->count_faults(vm) == 0 && m_store->list_events(vm, 0, 1).empty())
        throw RpcError(StatusCode::NOT_FOUND, "no VM named '" + vm + "' and nothing stored for one");
}

void ControllerCore::check_spec(const v1::VmSpec& spec)
{
    check_vm_spec(spec, m_settings.runner.state_dir, m_settings.runner.allow_command_runner);
}

std::string ControllerCore::check_signature(const v1::PushCellHeader& header)
{
    return check_push_signature(header, m_settings.allow_unsigned, m_trusted_keys);
}

void ControllerCore::check_push_header(const v1::PushCellHeader& header)
{
    find(header.vm());
    check_push_header_fields(header, m_settings.max_cell_bytes);
    check_signature(header);
}

v1::Vm ControllerCore::create_vm(const v1::VmSpec& spec)
{
    check_spec(spec);
    return add_vm(spec);
}

v1::Vm ControllerCore::adopt_discovered_vm(const v1::VmSpec& spec)
{
    v1::VmSpec plain = spec;  // checked as the attach request a user would make
    plain.clear_libvirt_domain();
    plain.clear_libvirt_uri();
    check_spec(plain);
    if (spec.runner() != v1::RUNNER_ATTACH || spec.libvirt_domain().empty())
        throw RpcError(StatusCode::INVALID_ARGUMENT, "a discovered VM is attached and names its libvirt domain");
    return add_vm(spec);
}

v1::Vm ControllerCore::add_vm(const v1::VmSpec& spec)
{
    StoredVm stored;
    stored.spec = spec;
    stored.created_unix_ms = unix_ms_now();
    std::shared_ptr<VmInstance> vm;
    {
        std::lock_guard lock(m_mutex);
        if (m_vms.count(spec.name()))
            throw RpcError(StatusCode::ALREADY_EXISTS, "a VM named '" + spec.name() + "' exists already");
        m_store->insert_vm(stored);
        vm = std::make_shared<VmInstance>(stored, m_settings.runner, *m_store, *this);
        m_vms[spec.name()] = vm;
    }
    v1::EventRecord created;
    created.set_vm(spec.name());
    created.set_kind(v1::EVENT_VM_CREATED);
    created.set_message(spec.libvirt_domain().empty()
                            ? "created (" + lower_enum_name(v1::Runner_Name(spec.runner()), "RUNNER_") + ")"
                            : "discovered libvirt domain " + spec.libvirt_domain() + " (" + spec.libvirt_uri() + ")");
    vm_event(created);
    log_line("info", "vm created", {{"vm", spec.name()}, {"runner", v1::Runner_Name(spec.runner())}});
    vm->start();
    vm_state_changed();
    return vm->describe();
}

std::vector<v1::Vm> ControllerCore::list_vms()
{
    std::vector<std::shared_ptr<VmInstance>> vms;
    {
        std::lock_guard lock(m_mutex);
        for (auto& [name, vm] : m_vms)
            vms.push_back(vm);
    }
    std::vector<v1::Vm> described;
    for (auto& vm : vms) {
        described.push_back(vm->describe());
        described.back().set_faults(m_store->count_faults(vm->name()));
    }
    return described;
}

v1::Vm ControllerCore::get_vm(const std::string& name)
{
    v1::Vm vm = find(name)->describe();
    vm.set_faults(m_store->count_faults(name));
    return vm;
}

v1::Vm ControllerCore::stop_vm(const std::string& name, std::chrono::milliseconds grace)
{
    auto vm = find(name);
    vm->stop(grace);
    vm_state_changed();
    return vm->describe();
}

void ControllerCore::delete_vm(const std::string& name)
{
    std::shared_ptr<VmInstance> vm = find(name);
    {
        std::lock_guard lock(m_mutex);
        m_vms.erase(name);
    }
    vm->stop(std::chrono::milliseconds(2000));
    bool clone = vm->spec().runner() == v1::RUNNER_CLONE;
    vm.reset();  // joins the instance's threads, outside m_mutex
    m_store->delete_vm(name);
    if (clone) {  // its template goes when no other clone VM names the same inputs
        std::set<std::string> slots;
        {
            std::lock_guard lock(m_mutex);
            for (const auto& [other_name, other] : m_vms)
                if (other->spec().runner() == v1::RUNNER_CLONE)
                    slots.insert(m_settings.runner.clone_templates->slot_of(other->spec()));
        }
        m_settings.runner.clone_templates->retain_only_slots(slots);
    }
    m_metrics.forget_vm(name);
    v1::EventRecord deleted;
    deleted.set_vm(name);
    deleted.set_kind(v1::EVENT_VM_DELETED);
    deleted.set_message("deleted; its faults and events stay in the store");
    vm_event(deleted);
    vm_state_changed();
    log_line("info", "vm deleted", {{"vm", name}});
}

template <typename Work>
void ControllerCore::on_guest(VmInstance& vm, Deadline deadline, Work&& work)
{
    try {
        vm.link().run(std::forward<Work>(work), deadline);
    } catch (const chan::GuestError& error) {
        throw RpcError(code_for_guest(error.status().code()), "guest " + vm.name() + " refused: " + error.what());
    } catch (const chan::ConnectionError& error) {
        throw RpcError(StatusCode::UNAVAILABLE, "lost the guest " + vm.name() + " during the request: " + error.what()
                                                    + " (nothing was applied unless the guest had answered)");
    } catch (const LinkUnavailable& error) {
        throw RpcError(StatusCode::UNAVAILABLE, error.what());
    } catch (const LinkDeadline& error) {
        throw RpcError(StatusCode::DEADLINE_EXCEEDED, error.what());
    }
}

std::uint64_t ControllerCore::record_cell(const std::string& vm, const v1::CellInfo& cell,
                                         const std::vector<std::string>& actions, const std::string& who,
                                         const std::string& signer)
{
    std::vector<v1::CellHistoryRecord> records;
    std::vector<v1::EventRecord> events;
    for (const std::string& action : actions) {
        v1::CellHistoryRecord record;
        record.set_vm(vm);
        record.set_cell(cell.name());
        record.set_version(cell.version());
        record.set_sha256(to_hex(cell.sha256()));
        record.set_action(action);
        record.set_by(who);
        record.set_object_bytes(cell.object_bytes());
        record.set_signer(signer);
        records.push_back(std::move(record));
        v1::EventRecord event;
        event.set_vm(vm);
        event.set_kind(action == "pushed" ? v1::EVENT_CELL_PUSHED
                       : action == "loaded" ? v1::EVENT_CELL_LOADED
                                            : v1::EVENT_CELL_UNLOADED);
        event.set_message(action + " " + cell.name() + "@" + cell.version() + " by " + who);
        events.push_back(std::move(event));
    }
    return m_store->add_history(records, events);
}

std::uint64_t ControllerCore::record_swap(const std::string& vm, const v1::CellSwapped& swapped,
                                         const std::vector<v1::CellInfo>& now, const std::string& who, const std::string& signer)
{
    const std::string action = swapped.rollback() ? "rolled-back" : "swapped";
    std::vector<v1::CellHistoryRecord> records;
    std::vector<v1::EventRecord> events;
    for (const v1::SwappedCell& cell : swapped.cells()) {
        v1::CellHistoryRecord record;
        record.set_vm(vm);
        record.set_cell(cell.name());
        record.set_version(cell.new_version());
        for (const v1::CellInfo& info : now) {
            if (info.name() == cell.name() && info.state() != v1::CELL_STATE_STAGED) {
                record.set_sha256(to_hex(info.sha256()));
                record.set_object_bytes(info.object_bytes());
            }
        }
        record.set_action(action);
        record.set_by(who);
        record.set_signer(signer);
        records.push_back(std::move(record));
        v1::EventRecord event;
        event.set_vm(vm);
        event.set_kind(swapped.rollback() ? v1::EVENT_CELL_ROLLED_BACK : v1::EVENT_CELL_SWAPPED);
        event.set_message(action + " " + cell.name() + " " + cell.old_version() + " (generation "
                          + std::to_string(cell.old_generation()) + ") -> " + cell.new_version() + " (generation "
                          + std::to_string(cell.new_generation()) + ") by " + who);
        event.set_detail("relocations repointed " + std::to_string(swapped.relocations_repointed()) + ", retiring cells "
                         + std::to_string(swapped.retiring_cells()) + ", guest total "
                         + std::to_string(swapped.timing().total_ns()) + " ns");
        events.push_back(std::move(event));
    }
    return m_store->add_history(records, events);
}

v1::PushCellResponse ControllerCore::push_cell(const v1::PushCellHeader& header, const std::string& object,
                                               const std::string& who, Deadline deadline)
{
    bool given = false;
    return push_cell_stream(header, [&](std::string& chunk) {
        if (given)
            return false;
        given = true;
        chunk = object;
        return true;
    }, who, deadline);
}

v1::PushCellResponse ControllerCore::push_cell_stream(const v1::PushCellHeader& header, const ChunkSource& next_chunk,
                                                      const std::string& who, Deadline deadline)
{
    check_push_header(header);  // includes the signature: it signs header.sha256, checked against the bytes below
    std::string signer = check_signature(header);
    auto vm = find_running(header.vm());

    auto start = std::chrono::steady_clock::now();
    v1::PushCellResponse response;
    std::string object;
    bool pushed = false;
    try {
        on_guest(*vm, deadline, [&](chan::ChannelClient& client) {
            StreamedPush result;
            try {
                v1::SwapCellsRequest swap;  // pipelined behind the commit when the guest speaks protocol 2
                swap.add_pairs()->set_old_cell(header.cell());
                result = stream_push(client, header.cell(), header.total_size(), header.sha256(), next_chunk, 8,
                                     header.action() == v1::PUSH_ACTION_SWAP ? &swap : nullptr);
            } catch (const PushMismatch& mismatch) {
                throw RpcError(StatusCode::INVALID_ARGUMENT, mismatch.what());
            }
            object = std::move(result.object);
            pushed = true;
            *response.mutable_cell() = result.committed.cell();
            response.set_push_ms(result.seconds * 1000);
            if (header.action() == v1::PUSH_ACTION_LOAD) {
                auto load_start = std::chrono::steady_clock::now();
                v1::HostMessage load;
                load.mutable_load_cell()->set_name(header.cell());
                v1::Reply reply = client.call(std::move(load));
                *response.mutable_cell() = reply.load_cell().cell();
                for (const std::string& name : reply.load_cell().also_loaded())
                    response.add_also_loaded(name);
                response.set_load_ms(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count());
            }
            if (header.action() == v1::PUSH_ACTION_SWAP) {
                auto swap_start = std::chrono::steady_clock::now();
                if (result.swap_error)
                    throw *result.swap_error;
                *response.mutable_swapped() = result.swap_sent ? result.swapped.swapped() : swap_on_guest(client, {header.cell()}, false);
                response.set_load_ms(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - swap_start).count());
                m_metrics.count_swap(header.vm(), "ok", response.load_ms() / 1000);
                for (const std::string& name : response.swapped().also_loaded())
                    response.add_also_loaded(name);
            }
            std::vector<v1::CellInfo> cells = list_guest_cells(client);
            if (header.action() == v1::PUSH_ACTION_SWAP)
                *response.mutable_cell() = loaded_cell(cells, header.cell());
            m_metrics.set_cells(header.vm(), cells);
        });
    } catch (const RpcError& error) {
        m_metrics.count_push(header.vm(), "error", 0);
        if (pushed && header.action() == v1::PUSH_ACTION_SWAP)
            m_metrics.count_swap(header.vm(), "refused", 0);
        if (pushed) {  // staged but not loaded: the history says so
            v1::CellInfo staged = response.cell();
            record_cell(header.vm(), staged, {"pushed"}, who, signer);
        }
        throw;
    }
    auto guest_done = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(guest_done - start).count();
    ++m_pushes;
    m_metrics.count_push(header.vm(), "ok", seconds);

    // Content-addressed copy for rollback.
    std::string object_path = m_settings.runner.state_dir + "/objects/" + to_hex(header.sha256()) + ".o";
    if (!std::filesystem::exists(object_path)) {
        // A temporary of this push's own: concurrent pushes of one object (a fleet rollout swaps
        // the same object into several VMs of a host at once) must not rename each other's file.
        static std::atomic<std::uint64_t> temporaries{0};
        std::string temporary = object_path + "." + std::to_string(::getpid()) + "." + std::to_string(++temporaries) + ".tmp";
        std::ofstream(temporary, std::ios::binary).write(object.data(), static_cast<std::streamsize>(object.size()));
        std::error_code failed;
        std::filesystem::rename(temporary, object_path, failed);
        if (failed)
            std::filesystem::remove(temporary, failed);
    }
    v1::CellInfo cell = response.cell();
    if (cell.sha256().empty())
        cell.set_sha256(header.sha256());
    cell.set_object_bytes(object.size());
    std::vector<std::string> actions = {"pushed"};
    if (header.action() == v1::PUSH_ACTION_LOAD)
        actions.push_back("loaded");
    std::uint64_t history_id = record_cell(header.vm(), cell, actions, who, signer);
    if (header.action() == v1::PUSH_ACTION_SWAP)
        history_id = record_swap(header.vm(), response.swapped(), {cell}, who, signer);
    response.set_history_id(history_id);
    response.set_signer(signer);
    auto ms = [](double value) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f", value);
        return std::string(text);
    };
    log_line("info", "cell pushed",
             {{"vm", header.vm()}, {"cell", header.cell()}, {"version", cell.version()},
              {"bytes", std::to_string(object.size())}, {"by", who}, {"action", v1::PushAction_Name(header.action())},
              {"guest_ms", ms(seconds * 1000)},
              {"store_ms", ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - guest_done).count())}});
    return response;
}

v1::CellResponse ControllerCore::load_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline)
{
    if (!valid_cell_name(request.cell()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "cell name '" + request.cell() + "' is not valid");
    auto vm = find_running(request.vm());
    v1::CellResponse response;
    on_guest(*vm, deadline, [&](chan::ChannelClient& client) {
        v1::HostMessage load;
        load.mutable_load_cell()->set_name(request.cell());
        v1::Reply reply = client.call(std::move(load));
        *response.mutable_cell() = reply.load_cell().cell();
        for (const std::string& name : reply.load_cell().also_loaded())
            response.add_also_loaded(name);
        m_metrics.set_cells(request.vm(), list_guest_cells(client));
    });
    record_cell(request.vm(), response.cell(), {"loaded"}, who, "");
    return response;
}

v1::CellResponse ControllerCore::unload_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline)
{
    if (!valid_cell_name(request.cell()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "cell name '" + request.cell() + "' is not valid");
    auto vm = find_running(request.vm());
    v1::CellResponse response;
    v1::CellInfo before;
    on_guest(*vm, deadline, [&](chan::ChannelClient& client) {
        for (const v1::CellInfo& cell : list_guest_cells(client)) {
            if (cell.name() == request.cell() && cell.state() == v1::CELL_STATE_LOADED)
                before = cell;
        }
        v1::HostMessage unload;
        unload.mutable_unload_cell()->set_name(request.cell());
        client.call(std::move(unload));
        m_metrics.set_cells(request.vm(), list_guest_cells(client));
    });
    if (before.name().empty())
        before.set_name(request.cell());
    *response.mutable_cell() = before;
    record_cell(request.vm(), before, {"unloaded"}, who, "");
    return response;
}

v1::CellResponse ControllerCore::swap_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline)
{
    return swap_or_rollback(request, who, deadline, false);
}

v1::CellResponse ControllerCore::rollback_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline)
{
    return swap_or_rollback(request, who, deadline, true);
}

v1::CellResponse ControllerCore::swap_or_rollback(const v1::CellRequest& request, const std::string& who,
                                                  Deadline deadline, bool rollback)
{
    std::vector<std::string> names = {request.cell()};
    names.insert(names.end(), request.with_cells().begin(), request.with_cells().end());
    if (rollback && names.size() > 1)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "rollback takes one cell (with_cells is for swaps)");
    if (names.size() > channel::kMaxSwapPairs)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "a swap names at most " + std::to_string(channel::kMaxSwapPairs)
                                                         + " cells, this one " + std::to_string(names.size()));
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!valid_cell_name(names[i]))
            throw RpcError(StatusCode::INVALID_ARGUMENT, "cell name '" + names[i] + "' is not valid");
        if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) != names.begin() + static_cast<std::ptrdiff_t>(i))
            throw RpcError(StatusCode::INVALID_ARGUMENT, "cell " + names[i] + " is named twice in one swap");
    }
    auto vm = find_running(request.vm());
    auto start = std::chrono::steady_clock::now();
    v1::CellResponse response;
    std::vector<v1::CellInfo> cells;
    try {
        on_guest(*vm, deadline, [&](chan::ChannelClient& client) {
            *response.mutable_swapped() = swap_on_guest(client, names, rollback);
            cells = list_guest_cells(client);
            *response.mutable_cell() = loaded_cell(cells, request.cell());
            m_metrics.set_cells(request.vm(), cells);
        });
    } catch (const RpcError&) {
        if (rollback)
            m_metrics.count_rollback(request.vm(), "refused");
        else
            m_metrics.count_swap(request.vm(), "refused", 0);
        throw;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rollback)
        m_metrics.count_rollback(request.vm(), "ok");
    else
        m_metrics.count_swap(request.vm(), "ok", seconds);
    for (const std::string& name : response.swapped().also_loaded())
        response.add_also_loaded(name);
    response.set_history_id(record_swap(request.vm(), response.swapped(), cells, who, ""));
    log_line("info", rollback ? "cell rolled back" : "cell swapped",
             {{"vm", request.vm()}, {"cell", request.cell()}, {"version", response.cell().version()}, {"by", who}});
    return response;
}

std::vector<v1::CellInfo> ControllerCore::list_cells(const std::string& name, Deadline deadline)
{
    auto vm = find_running(name);
    std::vector<v1::CellInfo> cells;
    on_guest(*vm, deadline, [&](chan::ChannelClient& client) { cells = list_guest_cells(client); });
    m_metrics.set_cells(name, cells);
    return cells;
}

std::vector<v1::CellHistoryRecord> ControllerCore::cell_history(const std::string& vm, const std::string& cell)
{
    check_vm_filter(vm);
    if (vm.empty())
        throw RpcError(StatusCode::INVALID_ARGUMENT, "no VM name given");
    return m_store->list_history(vm, cell);
}

v1::ListFaultsResponse ControllerCore::list_faults(const v1::ListFaultsRequest& request)
{
    std::uint32_t page_size = 0;
    std::uint64_t after = check_list_faults(request, &page_size);
    check_vm_filter(request.filter().vm());
    auto records = m_store->list_faults(request.filter(), after, page_size + 1);
    v1::ListFaultsResponse response;
    for (std::size_t i = 0; i < records.size() && i < page_size; ++i)
        *response.add_faults() = std::move(records[i]);
    if (records.size() > page_size)
        response.set_next_page_token("f" + std::to_string(response.faults(response.faults_size() - 1).sequence()));
    return response;
}

v1::GetStatsResponse ControllerCore::stats(const std::string& name, Deadline deadline)
{
    std::vector<std::shared_ptr<VmInstance>> vms;
    if (!name.empty()) {
        vms.push_back(find(name));
    } else {
        std::lock_guard lock(m_mutex);
        for (auto& [vm_name, vm] : m_vms)
            vms.push_back(vm);
    }
    v1::GetStatsResponse response;
    for (auto& vm : vms) {
        v1::VmStats* stats = response.add_vms();
        stats->set_vm(vm->name());
        try {
            if (!vm->link().connected())
                throw RpcError(StatusCode::UNAVAILABLE, "not connected");
            on_guest(*vm, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2)),
                     [&](chan::ChannelClient& client) {
                         v1::HostMessage request;
                         request.mutable_stats();
                         *stats->mutable_guest() = client.call(std::move(request)).stats();
                     });
        } catch (const RpcError& error) {
            stats->set_error(error.what());
        }
    }
    response.set_faults_stored(m_store->count_faults(""));
    response.set_events_stored(m_store->last_event_sequence());
    response.set_pushes(m_pushes);
    response.set_uptime_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - m_started).count());
    response.set_version("delosd 0.1.0");
    return response;
}

void ControllerCore::vm_event(v1::EventRecord event)
{
    if (event.kind() == v1::EVENT_VM_EXITED)
        m_metrics.count_exit(event.vm());
    try {
        m_store->add_event(std::move(event));
    } catch (const StoreError& error) {
        log_line("error", "cannot store an event", {{"error", error.what()}});
    }
}

// What the guest's own fault recovery did to a cell (a rollback, reload or quarantine, taken
// without any request of ours) goes into the cell history beside what users did, so that
// `delosctl cells --history` and the events say why a cell is not the version last pushed.
void ControllerCore::record_guest_recovery(const std::string& vm, std::uint64_t boot, const v1::FaultReport& report,
                                           std::uint64_t fault_sequence)
{
    std::string action;
    v1::EventKind kind = v1::EVENT_CELL_RECOVERED;
    switch (report.action()) {
    case v1::RECOVERY_ACTION_CELL_ROLLED_BACK:
        action = "rolled-back";
        kind = v1::EVENT_CELL_ROLLED_BACK;
        break;
    case v1::RECOVERY_ACTION_CELL_RELOADED:
        action = "reloaded";
        break;
    case v1::RECOVERY_ACTION_CELL_QUARANTINED:
        action = "quarantined";
        break;
    default:
        return;
    }
    if (!valid_cell_name(report.cell_name()))
        return;  // the report names no cell we could show (a hostile or broken guest)
    const std::string who = "guest recovery (fault " + std::to_string(fault_sequence) + ")";
    v1::CellHistoryRecord record;
    record.set_vm(vm);
    record.set_cell(report.cell_name());
    record.set_version(report.cell_version());
    record.set_action(action);
    record.set_by(who);
    v1::EventRecord event;
    event.set_vm(vm);
    event.set_kind(kind);
    event.set_boot_id(boot);
    event.set_message(action + " " + report.cell_name() + "@" + report.cell_version() + " by " + who);
    event.set_detail(report.message());
    try {
        m_store->add_history({record}, {event});
    } catch (const StoreError& error) {
        log_line("error", "cannot store a cell history record", {{"vm", vm}, {"error", error.what()}});
    }
}

void ControllerCore::guest_event(VmInstance& vm, const v1::Event& event)
{
    std::uint64_t boot = vm.boot_for_event(event);
    if (event.has_fault_report()) {
        const v1::FaultReport& report = event.fault_report();
        std::string kind = fault_kind_label(report.kind());
        auto describe = [&](const v1::FaultRecord& stored) {
            v1::EventRecord fault;
            fault.set_vm(vm.name());
            fault.set_kind(v1::EVENT_FAULT);
            fault.set_boot_id(boot);
            fault.set_message(kind + " in " + report.cell_name() + "@" + report.cell_version() + " at "
                              + short_symbol_and_offset(report.symbol(), report.symbol_offset()) + " (fault "
                              + std::to_string(stored.sequence()) + ")");
            return fault;
        };
        std::optional<v1::FaultRecord> record;
        try {
            std::string build = m_store->pushed_sha256(vm.name(), report.cell_name(), report.cell_version());
            record = m_store->add_fault(vm.name(), boot, event.sequence(), event.uptime_ns(), report, describe, build);
        } catch (const StoreError& error) {
            log_line("error", "cannot store a fault report", {{"vm", vm.name()}, {"error", error.what()}});
            return;
        }
        if (!record) {
            log_line("debug", "fault report delivered again, stored once",
                     {{"vm", vm.name()}, {"guest_sequence", std::to_string(event.sequence())}});
            return;
        }
        m_metrics.count_fault(vm.name(), report.cell_name(), kind);
        record_guest_recovery(vm.name(), boot, report, record->sequence());
        log_line("warn", "guest fault", {{"vm", vm.name()}, {"cell", report.cell_name()},
                                         {"kind", fault_kind_label(report.kind())}, {"message", report.message()},
                                         {"sequence", std::to_string(record->sequence())}});
    } else if (event.has_log_line()) {
        log_line("info", "guest log", {{"vm", vm.name()}, {"cell", event.log_line().cell()}, {"text", event.log_line().text()}});
    } else if (event.has_ready()) {
        vm.note_kernel_version(event.ready().kernel_version());
    }
}

void ControllerCore::vm_state_changed()
{
    std::map<v1::VmState, int> counts;
    std::lock_guard lock(m_mutex);
    for (auto& [name, vm] : m_vms)
        ++counts[vm->state()];
    m_metrics.set_vm_states(counts);
}

} // namespace delos::controller
