// campaign_run.h: one run of the fault campaign in a fresh QEMU (TCG) guest: boot the campaign
// archive with `fc.workload=NAME fc.wait_host`, wait for the driver's ready line, attach to
// QEMU's gdbstub, and either record which target instructions run (the coverage run) or stop
// at the injection point's trigger and inject; then wait for the verdict, the VM's end or the
// deadline, and classify.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "guest_report.h"
#include "injection_point.h"

namespace delos::fault_campaign {

struct RunConfig {
    std::string qemu = "qemu-system-x86_64";
    std::string kernel;       // build/guest/delos.elf
    std::string archive;      // build/cells/fault-campaign.a
    std::string work_directory;
    std::chrono::milliseconds boot_timeout{60'000};  // until the ready line
    std::chrono::milliseconds deadline{30'000};      // from the start of the measured run to the VM's end
    std::string keep_consoles;  // if set, each run's guest console is kept there
};

enum class Outcome { NotActivated, NotManifested, Recovered, Failed };
const char* outcome_name(Outcome outcome);

struct RunResult {
    Outcome outcome = Outcome::Failed;
    std::string what;            // why it failed, or what was detected
    std::string injection;       // the address and the bytes before and after, or the skipped instruction
    bool leaked = false;
    bool hang = false;
    bool vm_died = false;
    int exit_status = -1;        // QEMU's, -1 if killed at the deadline
    double seconds = 0;
    GuestReport report;
    std::string console;  // where the console was kept (--keep-consoles)
};

// Decides the outcome from what the guest reported (pure: unit-tested).
void classify(RunResult& result, bool injected);

RunResult run_injection(const RunConfig& config, const InjectionPoint& point, const std::string& run_name);
// A run that failed in the harness before any fault reached the guest (no ready guest, a debugger
// request QEMU refused before or while injecting): worth running again. Not a deterministic
// refusal such as a trigger outside the guest's sections.
bool is_retryable_harness_error(const std::string& what);

struct CoverageResult {
    bool ok = false;
    std::string error;
    std::vector<CoveredInstruction> covered;
    std::vector<GuestSection> sections;
    double seconds = 0;
    std::uint64_t stops = 0;
    GuestReport report;
};
inline constexpr std::uint32_t kCoverageHitCap = 8;
// A fault-free run with a breakpoint on every instruction of the target (each removed after
// kCoverageHitCap hits): which instructions run, how often, and a check that the workload is
// correct and leak-free without faults.
CoverageResult run_coverage(const RunConfig& config, const std::string& workload, const std::vector<Instruction>& instructions,
                            const std::string& run_name);

// The target cell of each workload.
std::string target_of_workload(const std::string& workload);

} // namespace delos::fault_campaign
