// commands.cpp: see commands.h.
#include "commands.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cell_signature.h"
#include "delos/v1/controller.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "output.h"
#include "symbol_names.h"
#include "tables.h"

namespace delos::ctl {

namespace {

using controller::to_hex;

std::string code_word(grpc::StatusCode code)
{
    switch (code) {
    case grpc::StatusCode::CANCELLED: return "cancelled";
    case grpc::StatusCode::INVALID_ARGUMENT: return "invalid argument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "timed out";
    case grpc::StatusCode::NOT_FOUND: return "not found";
    case grpc::StatusCode::ALREADY_EXISTS: return "already exists";
    case grpc::StatusCode::PERMISSION_DENIED: return "permission denied";
    case grpc::StatusCode::UNAUTHENTICATED: return "unauthenticated";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "resource exhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "failed precondition";
    case grpc::StatusCode::UNIMPLEMENTED: return "not implemented";
    case grpc::StatusCode::UNAVAILABLE: return "unavailable";
    case grpc::StatusCode::INTERNAL: return "internal error";
    default: return "error " + std::to_string(static_cast<int>(code));
    }
}

int fail(const grpc::Status& status, const Global& global)
{
    std::string message = controller::demangle_names_in(status.error_message());
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE && message.find("guest") == std::string::npos)
        message = "cannot reach delosd at " + global.connect.server + " (" + message + "); is it running? (--server, DELOS_SERVER)";
    std::fprintf(stderr, "delosctl: %s: %s\n", code_word(status.error_code()).c_str(), message.c_str());
    return exit_code_for(status);
}

int fail_text(const std::string& message, int code = kError)
{
    std::fprintf(stderr, "delosctl: %s\n", message.c_str());
    return code;
}

std::unique_ptr<v1::Controller::Stub> make_stub(const Global& global)
{
    return v1::Controller::NewStub(controller::connect_controller(global.connect));
}

void set_deadline(grpc::ClientContext& context, const Global& global)
{
    context.set_deadline(std::chrono::system_clock::now()
                         + std::chrono::milliseconds(static_cast<std::int64_t>(global.timeout_seconds * 1000)));
}

std::string claimed_user()
{
    const char* user = std::getenv("USER");
    return user ? user : std::to_string(::getuid());
}

bool json(const Global& global) { return global.output == "json"; }

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

std::string runner_word(v1::Runner runner) { return enum_word(v1::Runner_Name(runner), "RUNNER_"); }
void print_vms(const std::vector<v1::Vm>& vms)
{
    HostTable table(kVmTable, false);
    for (const v1::Vm& vm : vms)
        table.add("", vm_row(vm));
    table.print();
}

// One line per event; an exit also shows the end of the runner's report, indented.
void print_event(const v1::EventRecord& event)
{
    std::printf("%-6llu %s  %-10s %-16s %s\n", static_cast<unsigned long long>(event.sequence()),
                format_time(event.unix_ms()).c_str(), event.vm().c_str(),
                enum_word(v1::EventKind_Name(event.kind()), "EVENT_").c_str(), event.message().c_str());
    if (event.kind() != v1::EVENT_VM_EXITED || event.detail().empty())
        return;
    std::vector<std::string> lines;
    std::istringstream detail(event.detail());
    for (std::string line; std::getline(detail, line);)
        if (!line.empty())
            lines.push_back(line);
    for (std::size_t i = lines.size() > 4 ? lines.size() - 4 : 0; i < lines.size(); ++i)
        std::printf("         | %s\n", lines[i].c_str());
}

} // namespace

int exit_code_for(const grpc::Status& status)
{
    switch (status.error_code()) {
    case grpc::StatusCode::OK: return kOk;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return kUnavailable;
    case grpc::StatusCode::NOT_FOUND: return kNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return kRefused;
    case grpc::StatusCode::UNIMPLEMENTED: return kUnimplemented;
    default: return kError;
    }
}

int vm_create(const Global& global, const VmCreateOptions& options)
{
    v1::CreateVmRequest request;
    v1::VmSpec& spec = *request.mutable_spec();
    spec.set_name(options.name);
    if (options.runner == "vmm") spec.set_runner(v1::RUNNER_VMM);
    else if (options.runner == "qemu") spec.set_runner(v1::RUNNER_QEMU);
    else if (options.runner == "clone") spec.set_runner(v1::RUNNER_CLONE);
    else if (options.runner == "attach") spec.set_runner(v1::RUNNER_ATTACH);
    else if (options.runner == "command") spec.set_runner(v1::RUNNER_COMMAND);
    if (options.restart == "never") spec.set_restart(v1::RESTART_NEVER);
    else if (options.restart == "always") spec.set_restart(v1::RESTART_ALWAYS);
    else spec.set_restart(v1::RESTART_ON_FAILURE);
    auto absolute = [](const std::string& path) { return path.empty() ? path : std::filesystem::absolute(path).string(); };
    spec.set_kernel(absolute(options.kernel));
    for (const std::string& module : options.modules)
        spec.add_modules(absolute(module));
    spec.set_cmdline(options.cmdline);
    spec.set_memory_mib(options.memory_mib);
    spec.set_control_socket(absolute(options.socket));
    for (const std::string& word : options.command)
        spec.add_command(word);
    spec.set_max_restarts(options.max_restarts);
    spec.set_backoff_initial_ms(options.backoff_ms);
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::Vm vm;
    grpc::Status status = make_stub(global)->CreateVm(&context, request, &vm);
    if (!status.ok())
        return fail(status, global);
    if (json(global))
        std::printf("%s\n", to_json(vm).c_str());
    else
        std::printf("vm %s created (%s)\n", vm.spec().name().c_str(), runner_word(vm.spec().runner()).c_str());
    return kOk;
}

int vm_list(const Global& global)
{
    if (!global.fleet.empty())
        return fleet_vm_list(global);
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::ListVmsResponse response;
    grpc::Status status = make_stub(global)->ListVms(&context, v1::ListVmsRequest(), &response);
    if (!status.ok())
        return fail(status, global);
    if (json(global)) {
        std::printf("%s\n", to_json(response).c_str());
        return kOk;
    }
    print_vms({response.vms().begin(), response.vms().end()});
    return kOk;
}

int vm_get(const Global& global, const std::string& name)
{
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::GetVmRequest request;
    request.set_name(name);
    v1::Vm vm;
    grpc::Status status = make_stub(global)->GetVm(&context, request, &vm);
    if (!status.ok())
        return fail(status, global);
    if (json(global)) {
        std::printf("%s\n", to_json(vm).c_str());
        return kOk;
    }
    print_vms({vm});
    std::printf("\nsocket:    %s\ncreated:   %s\nlast exit: %s\n", vm.control_socket().c_str(),
                format_time(vm.created_unix_ms()).c_str(), vm.last_exit().empty() ? "-" : vm.last_exit().c_str());
    return kOk;
}

int vm_stop(const Global& global, const std::string& name, std::uint32_t grace_ms)
{
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::StopVmRequest request;
    request.set_name(name);
    request.set_grace_ms(grace_ms);
    v1::Vm vm;
    grpc::Status status = make_stub(global)->StopVm(&context, request, &vm);
    if (!status.ok())
        return fail(status, global);
    if (json(global))
        std::printf("%s\n", to_json(vm).c_str());
    else
        std::printf("vm %s stopped\n", name.c_str());
    return kOk;
}

int vm_delete(const Global& global, const std::string& name)
{
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::DeleteVmRequest request;
    request.set_name(name);
    v1::DeleteVmResponse response;
    grpc::Status status = make_stub(global)->DeleteVm(&context, request, &response);
    if (!status.ok())
        return fail(status, global);
    if (json(global))
        std::printf("{}\n");
    else
        std::printf("vm %s deleted\n", name.c_str());
    return kOk;
}

int push(const Global& global, const PushOptions& options)
{
    std::string object;
    v1::PushCellHeader header;
    try {
        object = read_file(options.file);
        header.set_sha256(controller::sha256_of(object));
        if (!options.sign_key.empty()) {
            std::string secret = controller::read_secret_key(options.sign_key);
            header.set_signature(controller::sign_digest(header.sha256(), secret));
            header.set_public_key(secret.substr(32));  // libsodium's secret key ends with the public key
        } else {
            std::string signature_file = options.signature.empty() ? options.file + ".sig" : options.signature;
            if (!options.signature.empty() || std::filesystem::exists(signature_file)) {
                controller::DetachedSignature detached = controller::read_signature(signature_file);
                header.set_signature(detached.signature);
                header.set_public_key(detached.public_key);
            }
        }
    } catch (const std::exception& error) {
        return fail_text(error.what(), kRefused);
    }
    std::string cell = options.cell.empty() ? std::filesystem::path(options.file).stem().string() : options.cell;
    header.set_vm(options.vm);
    header.set_cell(cell);
    header.set_total_size(object.size());
    header.set_action(options.swap ? v1::PUSH_ACTION_SWAP : options.load ? v1::PUSH_ACTION_LOAD : v1::PUSH_ACTION_STAGE);
    header.set_pushed_by(claimed_user());

    bool show_progress = !options.no_progress && (options.progress || ::isatty(2)) && !json(global);
    ProgressBar bar("push " + cell, object.size(), show_progress);
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::PushCellResponse response;
    auto stub = make_stub(global);
    auto writer = stub->PushCell(&context, &response);
    v1::PushCellRequest part;
    *part.mutable_header() = header;
    bool open = writer->Write(part);
    std::uint64_t chunk = std::max<std::uint64_t>(1, options.chunk_kib) * 1024;
    for (std::uint64_t offset = 0; open && offset < object.size(); offset += chunk) {
        part.set_chunk(object.substr(offset, chunk));
        open = writer->Write(part);
        bar.update(std::min<std::uint64_t>(offset + chunk, object.size()));
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!status.ok()) {
        bar.finish("failed");
        return fail(status, global);
    }
    bar.finish("done");
    if (json(global)) {
        std::printf("%s\n", to_json(response).c_str());
        return kOk;
    }
    std::printf("pushed %s@%s to %s (%s, sha256 %s) %s%s\n", response.cell().name().c_str(),
                response.cell().version().c_str(), options.vm.c_str(), format_bytes(object.size()).c_str(),
                to_hex(header.sha256()).substr(0, 12).c_str(),
                options.swap ? "and swapped it in" : options.load ? "and loaded it" : "(staged)",
                response.signer().empty() ? ", unsigned" : (", signed by " + response.signer().substr(0, 12)).c_str());
    for (const v1::SwappedCell& swapped : response.swapped().cells())
        std::printf("swapped %s: %s (generation %u) -> %s (generation %u)\n", swapped.name().c_str(),
                    swapped.old_version().c_str(), swapped.old_generation(), swapped.new_version().c_str(),
                    swapped.new_generation());
    std::printf("push %.2f ms, %s %.2f ms\n", response.push_ms(), options.swap ? "swap" : "load", response.load_ms());
    return kOk;
}

int cell_action(const Global& global, const std::string& action, const std::vector<std::string>& cells, const std::string& vm)
{
    v1::CellRequest request;
    request.set_vm(vm);
    request.set_cell(cells.at(0));
    for (std::size_t i = 1; i < cells.size(); ++i)
        request.add_with_cells(cells[i]);
    request.set_requested_by(claimed_user());
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::CellResponse response;
    auto stub = make_stub(global);
    grpc::Status status;
    if (action == "load") status = stub->LoadCell(&context, request, &response);
    else if (action == "unload") status = stub->UnloadCell(&context, request, &response);
    else if (action == "swap") status = stub->SwapCell(&context, request, &response);
    else status = stub->RollbackCell(&context, request, &response);
    if (!status.ok())
        return fail(status, global);
    if (json(global))
        std::printf("%s\n", to_json(response).c_str());
    else
        std::printf("%s: %s@%s on %s\n", action.c_str(), response.cell().name().c_str(), response.cell().version().c_str(),
                    vm.c_str());
    for (const v1::SwappedCell& swapped : response.swapped().cells())
        std::printf("%s %s: %s (generation %u) -> %s (generation %u), %u relocations repointed, guest %.2f ms\n",
                    response.swapped().rollback() ? "rolled back" : "swapped", swapped.name().c_str(),
                    swapped.old_version().c_str(), swapped.old_generation(), swapped.new_version().c_str(),
                    swapped.new_generation(), response.swapped().relocations_repointed(),
                    static_cast<double>(response.swapped().timing().total_ns()) / 1e6);
    return kOk;
}

int cells(const Global& global, const std::string& vm, bool history)
{
    if (!global.fleet.empty() && !history)
        return fleet_cells(global, vm);
    if (vm.empty())
        return fail_text("cells needs --vm NAME (or --fleet FILE for every VM of a fleet)", kUsage);
    auto stub = make_stub(global);
    grpc::ClientContext context;
    set_deadline(context, global);
    if (history) {
        v1::ListCellHistoryRequest request;
        request.set_vm(vm);
        v1::ListCellHistoryResponse response;
        grpc::Status status = stub->ListCellHistory(&context, request, &response);
        if (!status.ok())
            return fail(status, global);
        if (json(global)) {
            std::printf("%s\n", to_json(response).c_str());
            return kOk;
        }
        std::vector<std::vector<std::string>> rows;
        for (const auto& record : response.records())
            rows.push_back({std::to_string(record.id()), format_time(record.unix_ms()), record.cell(), record.version(),
                            record.action(), record.by(), record.sha256().substr(0, 12),
                            record.signer().empty() ? "-" : record.signer().substr(0, 12)});
        print_table({"ID", "TIME", "CELL", "VERSION", "ACTION", "BY", "SHA256", "SIGNER"}, rows);
        return kOk;
    }
    v1::ListCellsOnVmRequest request;
    request.set_vm(vm);
    v1::ListCellsOnVmResponse response;
    grpc::Status status = stub->ListCells(&context, request, &response);
    if (!status.ok())
        return fail(status, global);
    if (json(global)) {
        std::printf("%s\n", to_json(response).c_str());
        return kOk;
    }
    HostTable table(kCellTable, false);
    for (const v1::CellInfo& cell : response.cells())
        table.add("", cell_row(vm, cell));
    table.print();
    return kOk;
}

int faults(const Global& global, const FaultOptions& options)
{
    v1::FaultFilter filter;
    filter.set_vm(options.vm);
    filter.set_cell(options.cell);
    if (!options.kind.empty()) {
        v1::FaultKind kind;
        std::string name = "FAULT_KIND_" + options.kind;
        for (char& c : name)
            c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (!v1::FaultKind_Parse(name, &kind))
            return fail_text("unknown fault kind '" + options.kind + "' (e.g. page-fault, panic)", kUsage);
        filter.set_kind(kind);
    }
    if (!global.fleet.empty())
        return fleet_faults(global, options, filter);
    auto stub = make_stub(global);
    auto print_one = [&](const v1::FaultRecord& record) {
        if (json(global))
            std::printf("%s\n", to_json(record).c_str());
        else
            std::printf("%s\n", crash_report(record).c_str());
        std::fflush(stdout);
    };
    if (!options.follow) {
        std::vector<v1::FaultRecord> all;
        v1::ListFaultsRequest request;
        *request.mutable_filter() = filter;
        request.set_after_sequence(options.after);
        request.set_page_size(500);
        for (;;) {
            grpc::ClientContext context;
            set_deadline(context, global);
            v1::ListFaultsResponse response;
            grpc::Status status = stub->ListFaults(&context, request, &response);
            if (!status.ok())
                return fail(status, global);
            for (const auto& record : response.faults())
                all.push_back(record);
            if (response.next_page_token().empty() || (options.limit && all.size() >= options.limit))
                break;
            request.set_page_token(response.next_page_token());
        }
        if (options.limit && all.size() > options.limit)
            all.resize(options.limit);
        if (json(global) || options.details) {
            for (const auto& record : all)
                print_one(record);
            return kOk;
        }
        HostTable table(kFaultTable, false);
        for (const auto& record : all)
            table.add("", fault_row(record));
        table.print();
        return kOk;
    }
    // --follow: a watch that survives delosd restarts, resuming after the last fault printed.
    std::uint64_t cursor = options.after;
    int backoff_ms = 100;
    for (;;) {
        grpc::ClientContext context;
        v1::WatchFaultsRequest request;
        *request.mutable_filter() = filter;
        request.set_after_sequence(cursor);
        auto reader = stub->WatchFaults(&context, request);
        v1::FaultRecord record;
        while (reader->Read(&record)) {
            print_one(record);
            cursor = record.sequence();
            backoff_ms = 100;
        }
        grpc::Status status = reader->Finish();
        if (status.error_code() != grpc::StatusCode::UNAVAILABLE)
            return status.ok() ? kOk : fail(status, global);
        std::fprintf(stderr, "delosctl: lost delosd (%s); resuming after fault %llu\n", status.error_message().c_str(),
                     static_cast<unsigned long long>(cursor));
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 2000);
        stub = make_stub(global);
    }
}

int events(const Global& global, const std::string& vm, bool follow, std::uint64_t after)
{
    auto stub = make_stub(global);
    std::uint64_t cursor = after;
    int backoff_ms = 100;
    for (;;) {
        grpc::ClientContext context;
        v1::WatchEventsRequest request;
        request.set_vm(vm);
        request.set_after_sequence(cursor);
        request.set_stored_only(!follow);
        if (!follow)
            set_deadline(context, global);
        auto reader = stub->WatchEvents(&context, request);
        v1::EventRecord event;
        while (reader->Read(&event)) {
            if (json(global))
                std::printf("%s\n", to_json(event).c_str());
            else
                print_event(event);
            std::fflush(stdout);
            cursor = event.sequence();
            backoff_ms = 100;
        }
        grpc::Status status = reader->Finish();
        if (status.error_code() != grpc::StatusCode::UNAVAILABLE || !follow)
            return status.ok() ? kOk : fail(status, global);
        std::fprintf(stderr, "delosctl: lost delosd (%s); resuming after event %llu\n", status.error_message().c_str(),
                     static_cast<unsigned long long>(cursor));
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 2000);
        stub = make_stub(global);
    }
}

int stats(const Global& global, const std::string& vm)
{
    grpc::ClientContext context;
    set_deadline(context, global);
    v1::GetStatsRequest request;
    request.set_vm(vm);
    v1::GetStatsResponse response;
    grpc::Status status = make_stub(global)->GetStats(&context, request, &response);
    if (!status.ok())
        return fail(status, global);
    if (json(global)) {
        std::printf("%s\n", to_json(response).c_str());
        return kOk;
    }
    std::printf("%s, up %lld s, %llu pushes, %llu faults and %llu events stored\n\n", response.version().c_str(),
                static_cast<long long>(response.uptime_ms() / 1000), static_cast<unsigned long long>(response.pushes()),
                static_cast<unsigned long long>(response.faults_stored()),
                static_cast<unsigned long long>(response.events_stored()));
    std::vector<std::vector<std::string>> rows;
    for (const v1::VmStats& vm_stats : response.vms()) {
        if (!vm_stats.has_guest()) {
            rows.push_back({vm_stats.vm(), "-", "-", "-", "-", vm_stats.error()});
            continue;
        }
        const auto& guest = vm_stats.guest();
        rows.push_back({vm_stats.vm(), std::to_string(guest.cell_count()), std::to_string(guest.task_count()),
                        format_bytes(guest.memory_free_bytes()) + " / " + format_bytes(guest.memory_total_bytes()),
                        std::to_string(guest.uptime_ns() / 1000000000) + " s", "-"});
    }
    print_table({"VM", "CELLS", "TASKS", "FREE MEMORY", "UPTIME", "ERROR"}, rows);
    return kOk;
}

int health(const Global& global)
{
    auto stub = grpc::health::v1::Health::NewStub(controller::connect_controller(global.connect));
    grpc::ClientContext context;
    set_deadline(context, global);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("delos.v1.Controller");
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    if (!status.ok())
        return fail(status, global);
    bool serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    if (json(global))
        std::printf("%s\n", to_json(response).c_str());
    else
        std::printf("%s: %s\n", global.connect.server.c_str(), serving ? "serving" : "not serving");
    return serving ? kOk : kUnavailable;
}

int keygen(const std::string& prefix)
{
    try {
        controller::KeyPair pair = controller::generate_key_pair();
        controller::write_secret_key(prefix + ".key", pair.secret_key);
        controller::write_public_key(prefix + ".pub", pair.public_key);
        std::printf("wrote %s.key (secret, mode 0600) and %s.pub (copy it into delosd's --trusted-keys directory)\n",
                    prefix.c_str(), prefix.c_str());
        return kOk;
    } catch (const std::exception& error) {
        return fail_text(error.what());
    }
}

int sign(const std::string& file, const std::string& key, const std::string& out)
{
    try {
        std::string object = read_file(file);
        std::string secret = controller::read_secret_key(key);
        std::string digest = controller::sha256_of(object);
        controller::DetachedSignature signature{secret.substr(32), controller::sign_digest(digest, secret)};
        std::string path = out.empty() ? file + ".sig" : out;
        controller::write_signature(path, signature);
        std::printf("signed %s (sha256 %s) with key %s: %s\n", file.c_str(), to_hex(digest).substr(0, 12).c_str(),
                    to_hex(signature.public_key).substr(0, 12).c_str(), path.c_str());
        return kOk;
    } catch (const std::exception& error) {
        return fail_text(error.what(), kRefused);
    }
}

} // namespace delos::ctl
