// deadlock.cpp: a test-only cell (NOT_BOOT) that deadlocks once on its own two locks: its init
// starts two service tasks that take the locks in opposite orders, each waiting until the other
// holds its first. The wait that closes the cycle is ended and its task unwound as a DEADLOCK
// fault (docs/deadlocks.md); the other task then gets both locks. The restarted service finds the
// round done and idles. Pushed and loaded over the channel by the integration test.
#include <cstdint>

#include "abi/cell_mutex.h"
#include "linker/cell_info.h"

extern "C" int delos_cell_service_start(const char* name, void (*entry)());
extern "C" bool delos_cell_service_pause(std::uint64_t nanoseconds);

namespace {

delos::cell::Mutex g_first;
delos::cell::Mutex g_second;
volatile int g_holding = 0;
volatile bool g_round_done = false;

// Waits (1 ms at a time) for both services to hold their first lock; false if asked to stop.
bool wait_for_the_other()
{
    g_holding = g_holding + 1;
    while (g_holding < 2)
        if (delos_cell_service_pause(1'000'000))
            return false;
    return true;
}

[[gnu::noinline]] void take_both(delos::cell::Mutex& outer_lock, delos::cell::Mutex& inner_lock)
{
    delos::cell::MutexGuard outer(outer_lock);
    if (!wait_for_the_other())
        return;
    delos::cell::MutexGuard inner(inner_lock);
    g_round_done = true;
}

void idle()
{
    while (!delos_cell_service_pause(10'000'000)) {
    }
}

void forwards()
{
    // Lets the host connect and watch first (events while nobody is connected are not kept).
    if (!g_round_done && !delos_cell_service_pause(1'500'000'000))
        take_both(g_first, g_second);
    idle();
}

void backwards()
{
    if (!g_round_done && !delos_cell_service_pause(1'500'000'000))
        take_both(g_second, g_first);
    idle();
}

delos::ErrorOr<void> init()
{
    if (delos_cell_service_start("deadlock-fwd", forwards) != 0 || delos_cell_service_start("deadlock-back", backwards) != 0)
        return delos::Error::make(delos::ErrorCode::Internal, "deadlock: its service tasks could not start");
    return {};
}

} // namespace

extern "C" bool deadlock_round_done() { return g_round_done; }

DELOS_CELL("deadlock", "1.0.0", init, nullptr);
