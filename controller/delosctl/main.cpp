// main.cpp: delosctl, the command line of delosd (kubectl-like): parses with CLI11 and runs
// one command from commands.cpp. Exit codes are listed in commands.h.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.h"
#include "fleet_file.h"

using namespace delos::ctl;

int main(int argc, char** argv)
{
    CLI::App app{"delosctl: drive delosd (VMs, cells, faults, events)"};
    app.set_version_flag("--version", "delosctl " DELOS_VERSION);
    app.require_subcommand(1);
    Global global;
    global.connect.server = delos::controller::default_server();
    app.add_option("--server,-s", global.connect.server, "unix:PATH or tcp:HOST:PORT (env DELOS_SERVER)")->capture_default_str();
    app.add_option("--tls-ca", global.connect.tls_ca, "CA of delosd's certificate (tcp)")->envname("DELOS_TLS_CA");
    app.add_option("--tls-cert", global.connect.tls_cert, "client certificate (tcp)")->envname("DELOS_TLS_CERT");
    app.add_option("--tls-key", global.connect.tls_key, "client key (tcp)")->envname("DELOS_TLS_KEY");
    app.add_option("--output,-o", global.output, "table or json")->check(CLI::IsMember({"table", "json"}));
    app.add_option("--timeout", global.timeout_seconds, "seconds to wait for delosd")->check(CLI::PositiveNumber);
    app.add_option("--fleet", global.fleet, "fleet file: vm ls, cells and faults ask every host; rollouts go to its coordinator")
        ->envname("DELOS_FLEET")
        ->check(CLI::ExistingFile);
    app.fallthrough();  // global options may follow the command (delosctl rollout x.o --fleet F)

    int result = kOk;
    auto* vm = app.add_subcommand("vm", "create, list, inspect, stop and delete VMs");
    vm->require_subcommand(1);
    VmCreateOptions create;
    auto* vm_create_cmd = vm->add_subcommand("create", "create a VM and start (or attach to) it");
    vm_create_cmd->add_option("name", create.name, "VM name")->required();
    vm_create_cmd->add_option("--runner", create.runner,
                              "vmm, qemu, clone (QEMU restored from a template guest delosd boots once), attach or command")
        ->check(CLI::IsMember({"vmm", "qemu", "clone", "attach", "command"}))
        ->capture_default_str();
    vm_create_cmd->add_option("--kernel", create.kernel, "delos.elf (vmm, qemu, clone)");
    vm_create_cmd->add_option("--module", create.modules, "boot cell archive (vmm, qemu, clone); repeatable");
    vm_create_cmd->add_option("--cmdline", create.cmdline, "guest command line");
    vm_create_cmd->add_option("--memory", create.memory_mib, "MiB")->capture_default_str();
    vm_create_cmd->add_option("--socket", create.socket, "control socket to attach to (attach)");
    vm_create_cmd->add_option("--restart", create.restart, "never, on-failure or always")
        ->check(CLI::IsMember({"never", "on-failure", "always"}))
        ->capture_default_str();
    vm_create_cmd->add_option("--max-restarts", create.max_restarts, "0: unlimited");
    vm_create_cmd->add_option("--backoff-ms", create.backoff_ms, "first restart delay (doubles); 0: 200");
    vm_create_cmd->add_option("command", create.command, "command runner: argv after --, {control_socket} is replaced");
    vm_create_cmd->callback([&] { result = vm_create(global, create); });
    vm->add_subcommand("ls", "list VMs")->callback([&] { result = vm_list(global); });
    std::string vm_name;
    auto* vm_get_cmd = vm->add_subcommand("get", "show one VM");
    vm_get_cmd->add_option("name", vm_name)->required();
    vm_get_cmd->callback([&] { result = vm_get(global, vm_name); });
    std::uint32_t grace_ms = 3000;
    auto* vm_stop_cmd = vm->add_subcommand("stop", "stop a VM (SIGTERM, then SIGKILL after the grace)");
    vm_stop_cmd->add_option("name", vm_name)->required();
    vm_stop_cmd->add_option("--grace-ms", grace_ms)->capture_default_str();
    vm_stop_cmd->callback([&] { result = vm_stop(global, vm_name, grace_ms); });
    auto* vm_rm_cmd = vm->add_subcommand("rm", "stop and delete a VM (its faults stay stored)");
    vm_rm_cmd->add_option("name", vm_name)->required();
    vm_rm_cmd->callback([&] { result = vm_delete(global, vm_name); });

    PushOptions push_options;
    auto* push_cmd = app.add_subcommand("push", "push a cell object into a VM");
    push_cmd->add_option("file", push_options.file, "CELL.o")->required()->check(CLI::ExistingFile);
    push_cmd->add_option("--vm", push_options.vm)->required();
    push_cmd->add_option("--name", push_options.cell, "cell name (default: the file name without .o)");
    auto* load_flag = push_cmd->add_flag("--load", push_options.load, "load it after the push");
    push_cmd->add_flag("--swap", push_options.swap, "swap it for the running version")->excludes(load_flag);
    push_cmd->add_option("--sign-key", push_options.sign_key, "sign with this secret key while pushing");
    push_cmd->add_option("--signature", push_options.signature, "detached signature (default: FILE.sig if present)");
    push_cmd->add_option("--chunk-kib", push_options.chunk_kib)->capture_default_str()->check(CLI::Range(1u, 4096u));
    push_cmd->add_flag("--progress", push_options.progress, "show the progress bar even when stderr is not a terminal");
    push_cmd->add_flag("--no-progress", push_options.no_progress);
    push_cmd->callback([&] { result = push(global, push_options); });

    std::string cell, cell_vm;
    for (const char* action : {"load", "unload", "rollback"}) {
        auto* command = app.add_subcommand(action, std::string(action) + " a cell in a VM");
        command->add_option("cell", cell)->required();
        command->add_option("--vm", cell_vm)->required();
        command->callback([&, action] { result = cell_action(global, action, {cell}, cell_vm); });
    }
    std::vector<std::string> swapped_cells;
    auto* swap_cmd = app.add_subcommand("swap", "swap cells in a VM for their pushed (staged) versions, all or nothing");
    swap_cmd->add_option("cells", swapped_cells, "CELL...: several swap together (an interface change across cells)")
        ->required();
    swap_cmd->add_option("--vm", cell_vm)->required();
    swap_cmd->callback([&] { result = cell_action(global, "swap", swapped_cells, cell_vm); });
    bool history = false;
    auto* cells_cmd = app.add_subcommand("cells", "list a VM's cells (or their history)");
    cells_cmd->add_option("--vm", cell_vm, "the VM (with --fleet: optional, every running VM of every host)");
    cells_cmd->add_flag("--history", history, "what was pushed, loaded and unloaded, when and by whom");
    cells_cmd->callback([&] { result = cells(global, cell_vm, history); });

    FaultOptions fault_options;
    auto* faults_cmd = app.add_subcommand("faults", "list or follow stored fault reports");
    faults_cmd->add_option("--vm", fault_options.vm);
    faults_cmd->add_option("--cell", fault_options.cell);
    faults_cmd->add_option("--kind", fault_options.kind, "page-fault, panic, ...");
    faults_cmd->add_flag("--follow,-f", fault_options.follow, "print new faults as they arrive (survives delosd restarts)");
    faults_cmd->add_flag("--details", fault_options.details, "crash reports instead of a table");
    faults_cmd->add_option("--after", fault_options.after, "only faults after this sequence number");
    faults_cmd->add_option("--limit", fault_options.limit, "at most this many");
    faults_cmd->callback([&] { result = faults(global, fault_options); });

    bool follow = false;
    std::uint64_t after = 0;
    std::string events_vm;
    auto* events_cmd = app.add_subcommand("events", "VM lifecycle, pushes, loads, exits and faults");
    events_cmd->add_option("--vm", events_vm);
    events_cmd->add_flag("--follow,-f", follow);
    events_cmd->add_option("--after", after, "only events after this sequence number");
    events_cmd->callback([&] { result = events(global, events_vm, follow, after); });

    std::string stats_vm;
    auto* stats_cmd = app.add_subcommand("stats", "delosd's and the guests' figures");
    stats_cmd->add_option("--vm", stats_vm);
    stats_cmd->callback([&] { result = stats(global, stats_vm); });

    RolloutOptions rollout_options;
    auto* rollout_cmd = app.add_subcommand("rollout", "roll a new cell version out over a fleet, with automatic rollback");
    rollout_cmd->fallthrough();
    rollout_cmd->add_option("file", rollout_options.file, "CELL.o, the new version")->check(CLI::ExistingFile);
    rollout_cmd->add_option("--name", rollout_options.cell, "cell name (default: the file name up to its first dot)");
    rollout_cmd->add_option("--canary", rollout_options.canary, "guests in the canary stage")->capture_default_str()
        ->check(CLI::Range(1u, 10000u));
    rollout_cmd->add_option("--batch", rollout_options.batch, "guests per later stage: SIZE or PERCENT% (default: all the rest)");
    rollout_cmd->add_option("--bake", rollout_options.bake, "watch each stage this long (500ms, 30s, 5m)")->capture_default_str();
    rollout_cmd->add_option("--max-fault-rate", rollout_options.max_fault_rate,
                            "faults of the new version per guest running it before it rolls back (0: the first fault)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    rollout_cmd->add_option("--host", rollout_options.hosts, "only these fleet hosts (repeatable)");
    rollout_cmd->add_option("--vm", rollout_options.vms, "only these VMs, as VM or HOST/VM (repeatable)");
    rollout_cmd->add_option("--sign-key", rollout_options.sign_key, "sign with this secret key");
    rollout_cmd->add_option("--signature", rollout_options.signature, "detached signature (default: FILE.sig if present)");
    rollout_cmd->add_flag("--detach", rollout_options.detach, "start it and return (follow with rollout watch ID)");
    rollout_cmd->callback([&] {
        if (rollout_cmd->get_subcommands().empty()) {
            if (rollout_options.file.empty())
                throw CLI::RequiredError("rollout needs CELL.o (or one of: ls, status, watch, pause, resume, abort)");
            result = rollout_start(global, rollout_options);
        }
    });
    bool all_rollouts = false;
    auto* rollout_ls_cmd = rollout_cmd->add_subcommand("ls", "list the coordinator's rollouts (active ones; --all for every one)");
    rollout_ls_cmd->add_flag("--all", all_rollouts);
    rollout_ls_cmd->callback([&] { result = rollout_list(global, all_rollouts); });
    std::uint64_t rollout_id = 0;
    for (const char* action : {"status", "watch", "pause", "resume", "abort"}) {
        auto* command = rollout_cmd->add_subcommand(action, std::string(action) + " a rollout");
        command->add_option("id", rollout_id)->required();
        command->callback([&, action] {
            std::string name = action;
            result = name == "status" ? rollout_status(global, rollout_id)
                   : name == "watch"  ? rollout_follow(global, rollout_id)
                                      : rollout_control(global, name, rollout_id);
        });
    }

    app.add_subcommand("health", "ask delosd's grpc.health.v1 service")->callback([&] { result = health(global); });

    std::string key_prefix;
    auto* keygen_cmd = app.add_subcommand("keygen", "make an Ed25519 key pair for signing cells");
    keygen_cmd->add_option("prefix", key_prefix, "writes PREFIX.key and PREFIX.pub")->required();
    keygen_cmd->callback([&] { result = keygen(key_prefix); });

    std::string sign_file, sign_key, sign_out;
    auto* sign_cmd = app.add_subcommand("sign", "sign a cell object (writes CELL.o.sig)");
    sign_cmd->add_option("file", sign_file)->required()->check(CLI::ExistingFile);
    sign_cmd->add_option("--key", sign_key, "secret key from delosctl keygen")->required();
    sign_cmd->add_option("--out", sign_out, "signature file (default FILE.sig)");
    sign_cmd->callback([&] { result = sign(sign_file, sign_key, sign_out); });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);
        return code == 0 ? kOk : kUsage;
    } catch (const delos::controller::FleetFileError& error) {
        std::fprintf(stderr, "delosctl: %s\n", error.what());
        return kUsage;
    } catch (const delos::controller::ConnectError& error) {
        std::fprintf(stderr, "delosctl: %s\n", error.what());
        return kUsage;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "delosctl: %s\n", error.what());
        return kError;
    }
    return result;
}
