// commands.h: what each delosctl command does, given its parsed options. Each returns the
// process exit code (see exit_code_for()); errors are printed as one line on stderr.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "controller_connection.h"
#include "delos/v1/controller.pb.h"

namespace delos::ctl {

// Exit codes: 0 ok, 1 other error, 2 usage, 3 delosd unreachable or timed out, 4 not found,
// 5 refused (invalid input, permission, precondition, already exists), 6 not implemented yet,
// 7 a rollout that ended without succeeding (rolled back, aborted or failed).
// With --fleet, a read command exits 3 when a host did not answer (the others are still shown).
enum ExitCode { kOk = 0, kError = 1, kUsage = 2, kUnavailable = 3, kNotFound = 4, kRefused = 5, kUnimplemented = 6,
                kRolloutStopped = 7 };
int exit_code_for(const grpc::Status& status);

struct Global {
    controller::ConnectOptions connect;
    std::string output = "table";  // table or json
    double timeout_seconds = 30;
    std::string fleet;  // a fleet file: read commands ask every host, rollouts go to its coordinator
};

struct VmCreateOptions {
    std::string name, runner = "vmm", kernel, cmdline, socket, restart = "on-failure";
    std::vector<std::string> modules, command;
    std::uint32_t memory_mib = 64, max_restarts = 0, backoff_ms = 0;
};
int vm_create(const Global&, const VmCreateOptions&);
int vm_list(const Global&);
int vm_get(const Global&, const std::string& name);
int vm_stop(const Global&, const std::string& name, std::uint32_t grace_ms);
int vm_delete(const Global&, const std::string& name);

struct PushOptions {
    std::string file, vm, cell, sign_key, signature;
    bool load = false, swap = false, progress = false, no_progress = false;
    std::uint32_t chunk_kib = 256;
};
int push(const Global&, const PushOptions&);
// load, unload and rollback take one cell; swap takes one or more (one transaction in the guest).
int cell_action(const Global&, const std::string& action, const std::vector<std::string>& cells, const std::string& vm);
int cells(const Global&, const std::string& vm, bool history);

struct FaultOptions {
    std::string vm, cell, kind;
    bool follow = false, details = false;
    std::uint64_t after = 0;
    std::uint32_t limit = 0;  // 0: all
};
int faults(const Global&, const FaultOptions&);
int fleet_faults(const Global&, const FaultOptions&, const v1::FaultFilter& filter);
int events(const Global&, const std::string& vm, bool follow, std::uint64_t after);
int stats(const Global&, const std::string& vm);
int health(const Global&);
int keygen(const std::string& prefix);

// fleet_commands.cpp
int fleet_vm_list(const Global&);
int fleet_cells(const Global&, const std::string& vm);  // vm empty: every running VM

struct RolloutOptions {
    std::string file, cell, sign_key, signature, batch, bake = "30s";
    std::uint32_t canary = 1;
    double max_fault_rate = 0;
    std::vector<std::string> hosts, vms;
    bool detach = false;
};
int rollout_start(const Global&, const RolloutOptions&);
int rollout_follow(const Global&, std::uint64_t id);
int rollout_list(const Global&, bool all);
int rollout_status(const Global&, std::uint64_t id);
int rollout_control(const Global&, const std::string& action, std::uint64_t id);
int sign(const std::string& file, const std::string& key, const std::string& out);

} // namespace delos::ctl
