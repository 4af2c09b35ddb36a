// fault_benchmark.cpp: restart and reload latency, timed with the TSC in the guest.
#include "diagnostics/fault_benchmark.h"

#include <atomic>

#include "arch/x86_64/tsc.h"
#include "linker/kernel/cell_manager.h"
#include "log/kernel_log.h"
#include "platform/boot_facts.h"
#include "recovery/fault_containment.h"
#include "recovery_policy/cell_records.h"
#include "recovery_policy/recovery_service.h"
#include "recovery_policy/restartable_tasks.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::diagnostics {

using namespace recovery;  // the policy this benchmark drives (recovery_policy/)

namespace {

constexpr int kNoFault = 0, kNullWrite = 1;  // cells/faulty/faulty.h

std::atomic<std::uint64_t> g_fault_at_ns{0};
std::atomic<std::uint64_t> g_started_at_ns{0};
std::atomic<std::uint32_t> g_instances{0};
std::atomic<std::uint32_t> g_faults_left{0};
volatile std::uint64_t g_null = 0;

void sort(std::uint64_t* values, std::size_t count)
{
    for (std::size_t i = 1; i < count; ++i)
        for (std::size_t j = i; j > 0 && values[j - 1] > values[j]; --j) {
            std::uint64_t t = values[j];
            values[j] = values[j - 1];
            values[j - 1] = t;
        }
}

template <typename Ready>
bool wait_for(Ready ready, std::uint64_t timeout_ns)
{
    std::uint64_t deadline = tsc::nanoseconds_since_boot() + timeout_ns;
    while (!ready()) {
        if (tsc::nanoseconds_since_boot() > deadline)
            return false;
        task::scheduler::yield();
    }
    return true;
}

const char* console_mode() { return task::fault_console_reports() ? "console" : "quiet"; }

void summarize(const char* what, std::uint64_t* samples, std::size_t count)
{
    if (count == 0)
        return;
    sort(samples, count);
    std::size_t p99 = count * 99 / 100;
    kprint("bench-faults: {} {} n={} median_ns={} p99_ns={} min_ns={} max_ns={}\n", what, console_mode(), count, samples[count / 2],
           samples[p99 < count ? p99 : count - 1], samples[0], samples[count - 1]);
}

// A restartable task whose every instance notes when it started and, while faults are left,
// faults at once (noting when): the next instance's start minus that is one restart.
void measure_restarts(unsigned count)
{
    static std::uint64_t samples[1024];
    if (count > 1024)
        count = 1024;
    g_instances = 0;
    g_faults_left = 0;
    auto id = spawn_restartable("bench-restart", []() -> TaskBody {
        return [] {
            std::uint64_t now = tsc::nanoseconds_since_boot();
            g_started_at_ns.store(now);
            g_instances.fetch_add(1);
            while (g_faults_left.load() == 0) {
                if (stop_requested())
                    return;
                task::scheduler::yield();
            }
            g_faults_left.fetch_sub(1);
            g_fault_at_ns.store(tsc::nanoseconds_since_boot());
            *reinterpret_cast<volatile std::uint64_t*>(g_null) = 1;
        };
    });
    if (id.is_error()) {
        kprint("bench-faults: error: {}\n", id.error().message);
        return;
    }
    if (!wait_for([] { return g_instances.load() == 1; }, 10'000'000'000ull)) {
        kprint("bench-faults: error: the restartable task never started\n");
        return;
    }
    std::size_t taken = 0;
    for (unsigned i = 0; i < count; ++i) {
        std::uint32_t before = g_instances.load();
        g_faults_left.store(1);
        if (!wait_for([&] { return g_instances.load() == before + 1; }, 10'000'000'000ull)) {
            kprint("bench-faults: error: restart {} did not happen\n", i + 1);
            break;
        }
        std::uint64_t sample = g_started_at_ns.load() - g_fault_at_ns.load();
        samples[taken++] = sample;
        if (task::fault_console_reports())
            kprint("bench-faults: sample restart_ns={}\n", sample);
    }
    (void)stop_restartable(id.value(), 1'000'000'000);
    summarize("restart", samples, taken);
}

// faulty (through its client) faults once per round; the policy reloads at every fault; the
// sample ends when the fresh copy answers a call through the re-pointed client.
void measure_reloads(unsigned count)
{
    static std::uint64_t samples[1024];
    if (count > 1024)
        count = 1024;
    auto& cells = loader::cell_manager();
    if (!cells.is_loaded("faulty_client")) {
        if (auto loaded = cells.load("faulty_client"); loaded.is_error()) {
            kprint("bench-faults: error: boot with build/cells/recovery-test.a ({})\n", loaded.error().message);
            return;
        }
    }
    RecoveryPolicy policy;
    policy.window_ns = 1;             // every fault is judged alone ...
    policy.reload_after_faults = 1;   // ... and reloads the cell
    policy.max_reloads = 1'000'000;
    policy.rollback_window_ns = 0;
    (void)set_cell_policy("faulty", policy);
    auto call_address = cells.symbol_address("_ZN5delos13faulty_client4callEi");
    if (call_address.is_error()) {
        kprint("bench-faults: error: faulty_client::call not found\n");
        return;
    }
    auto call = reinterpret_cast<std::uint64_t (*)(int)>(call_address.value());
    std::size_t taken = 0;
    for (unsigned i = 0; i < count; ++i) {
        std::uint32_t generation = cells.live_generation("faulty");
        std::uint64_t reloads = recovery_statistics().reloads;
        auto caller = task::spawn("bench-caller", [call] {
            g_fault_at_ns.store(tsc::nanoseconds_since_boot());
            return call(kNullWrite);
        });
        if (caller.is_error())
            break;
        if (!wait_for([&] { return cells.live_generation("faulty") != generation; }, 10'000'000'000ull)) {
            kprint("bench-faults: error: reload {} did not happen\n", i + 1);
            break;
        }
        std::uint64_t answer = call(kNoFault);  // served by the fresh copy: its first call
        std::uint64_t served = tsc::nanoseconds_since_boot();
        (void)caller.value().join();
        if (answer != 1) {
            kprint("bench-faults: error: the reloaded copy answered {} (not fresh)\n", answer);
            break;
        }
        (void)wait_for([&] { return recovery_statistics().reloads > reloads; }, 10'000'000'000ull);
        samples[taken] = served - g_fault_at_ns.load();
        if (task::fault_console_reports())
            kprint("bench-faults: sample reload_ns={}\n", samples[taken]);
        ++taken;
    }
    summarize("reload", samples, taken);
    (void)cells.unload("faulty_client");
    (void)cells.unload("faulty");
    forget_cell("faulty");
}

} // namespace

void run_fault_benchmark(unsigned restarts, unsigned reloads)
{
    RecoveryPolicy previous = default_policy();
    RecoveryPolicy unlimited = previous;
    unlimited.window_ns = 1;  // restarts are never limited during the benchmark
    (void)set_default_policy(unlimited);
    kprint("bench-faults: boot_ns={}\n", platform::boot_ns());  // the ready line's boot time: the reboot anchor
    // As a user gets it (each fault's report printed on the serial console), then with the
    // console report off (the fault log and the channel still carry it): recovery's own cost.
    for (bool console : {true, false}) {
        task::set_fault_console_reports(console);
        measure_restarts(restarts);
        measure_reloads(reloads);
    }
    task::set_fault_console_reports(true);
    (void)set_default_policy(previous);
    kprint("bench-faults: done\n");
}

} // namespace delos::diagnostics
