// rollout_load.cpp: a test-only cell (NOT_BOOT) that keeps rollout_probe under load: its init
// starts a task that, every 20 ms, calls rollout_probe::handle in a task of its own (so a
// version that faults loses only that call's task, and the load goes on), through the GOT slot
// a swap re-points.
#include <cstdint>

#include "linker/cell_info.h"
#include "rollout_probe/rollout_probe.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace {

constexpr std::uint64_t kCallPeriodNs = 20'000'000;

std::uint64_t g_calls = 0;

delos::ErrorOr<void> rollout_load_init()
{
    auto driver = TRY(delos::task::spawn("rollout_load.driver", [] {
        for (std::uint64_t request = 0;; ++request) {
            auto call = delos::task::spawn("rollout_load.call", [request] {
                return delos::rollout_probe::handle(request);
            });
            if (!call.is_error()) {
                (void)call.value().join();
                ++g_calls;
            }
            delos::task::scheduler::sleep_for(kCallPeriodNs);
        }
    }));
    driver.detach();  // runs as long as the guest; the cell cannot be unloaded while it does
    return {};
}

} // namespace

DELOS_CELL("rollout_load", "1.0.0", rollout_load_init, nullptr);
