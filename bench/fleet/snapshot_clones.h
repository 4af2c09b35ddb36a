// snapshot_clones.h: the experiment of delos-bench-fleet that starts guests as clones of one
// booted guest (docs/fleet.md, "Where a start's time and memory go"): a template guest boots
// under QEMU with its RAM in a file (memory-backend-file, share=on), is paused and its device
// state saved (migration to a file, x-ignore-shared: the RAM stays in its file); each clone maps
// that RAM file privately (share=off: pages shared until written) and loads the device state
// (-incoming). Each clone gets its own VM generation (fw_cfg), so the guest takes a fresh boot id
// at its first host session. Superseded by delosd's clone runner (controller/delosd/clone_templates.h); kept for QemuSnapshotClone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace delos::bench {

struct CloneRun {
    bool ok = false;
    std::string error;
    double template_s = -1;                  // boot, pause, save
    double clones_per_s = -1;                // N clones started at once, until each runs again
    double cpu_s_per_clone = -1;             // CPU of a clone's QEMU from exec to running
    std::vector<int> pids;                   // the clones (the caller kills them)
    std::vector<std::string> control_sockets;  // their channel sockets, for delosd to attach
    std::vector<std::string> generations;      // each clone's VM generation (fw_cfg opt/org.delos/generation)
};

// Boots the template in `dir` and starts `count` clones at once. `kernel`, `modules`: as for
// delosd's QEMU runner.
CloneRun start_snapshot_clones(const std::string& dir, int count, std::uint32_t memory_mib, const std::string& kernel,
                               const std::string& modules);

// CPU seconds (user + system) process `pid` has used, -1 if it is gone.
double process_cpu_s(int pid);

} // namespace delos::bench
