// init_sleeps.cpp: a test-only cell (NOT_BOOT) whose init blocks: it sleeps 10 ms, then spawns a
// worker task that outlives the init and runs until init_sleeps_release() is called. It shows
// that the cell manager runs a cell's entries in tasks of their own under a sleeping lock (the
// rest of the system runs while the load waits), and that tasks carry the cell they run in.
#include <atomic>
#include <cstdint>

#include "linker/cell_info.h"
#include "task/current_task.h"
#include "task/scheduler.h"
#include "task/spawn.h"

// What the selftest reads back (guest/selftest/cell_service_tests.cpp keeps the same layout).
struct InitSleepsReport {
    std::uint64_t init_task_id;
    std::uint64_t init_task_cell;
    std::uint64_t worker_task_id;
    std::uint64_t worker_task_cell;  // as the worker sees itself
    std::uint64_t worker_iterations;
    std::uint64_t worker_finished;
};

namespace {

constexpr std::uint64_t kInitSleepNs = 10'000'000;
constexpr std::uint64_t kWorkerPollNs = 1'000'000;

InitSleepsReport g_report;
std::atomic<bool> g_released{false};

delos::ErrorOr<void> init_sleeps_init()
{
    auto self = delos::task::current_identity();
    g_report.init_task_id = self.id;
    g_report.init_task_cell = self.cell;
    delos::task::scheduler::sleep_for(kInitSleepNs);
    auto worker = TRY(delos::task::spawn("init_sleeps.worker", [] {
        g_report.worker_task_cell = delos::task::current_identity().cell;
        while (!g_released.load(std::memory_order_acquire)) {
            ++g_report.worker_iterations;
            delos::task::scheduler::sleep_for(kWorkerPollNs);
        }
        g_report.worker_finished = 1;
    }));
    g_report.worker_task_id = worker.id();
    worker.detach();  // it outlives this init; the cell cannot be unloaded while it runs
    return {};
}

} // namespace

extern "C" [[gnu::visibility("default")]] void init_sleeps_read_report(InitSleepsReport* out) { *out = g_report; }
extern "C" [[gnu::visibility("default")]] void init_sleeps_release() { g_released.store(true, std::memory_order_release); }

DELOS_CELL("init_sleeps", "1.0.0", init_sleeps_init, nullptr);
