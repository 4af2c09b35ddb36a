// runaway.cpp: a test-only cell (NOT_BOOT) whose functions never finish on their own: one
// recurses without bound (each level holds a guard with a destructor and a buffer), one loops
// forever bumping a counter while holding a guard. The selftest (guest/selftest/fault_tests.cpp)
// calls them in tasks: the stack overflow is caught by the split-stack prologue check and the
// endless loop by the watchdog; either way the task is unwound, every guard's destructor runs
// (runaway_live_guards() is back to 0) and the kernel runs on. Its two locks deadlock on demand
// (runaway_lock_pair), and are held across long waits (runaway_hold_lock).
#include <cstdint>

#include "abi/cell_mutex.h"
#include "linker/cell_info.h"

namespace {

volatile std::int64_t g_live_guards = 0;
volatile std::uint64_t g_deepest = 0;

struct Guard {
    Guard() { g_live_guards = g_live_guards + 1; }
    ~Guard() { g_live_guards = g_live_guards - 1; }
};

} // namespace

extern "C" std::int64_t runaway_live_guards() { return g_live_guards; }
extern "C" std::uint64_t runaway_deepest() { return g_deepest; }

// No base case: only the stack limit ends it.
extern "C" [[gnu::noinline]] std::uint64_t runaway_recurse(std::uint64_t depth)
{
    Guard held;
    volatile char buffer[200];
    buffer[depth % sizeof buffer] = static_cast<char>(depth);
    if (depth > g_deepest)
        g_deepest = depth;
    return runaway_recurse(depth + 1) + buffer[(depth + 1) % sizeof buffer];
}

// Never returns, never waits: only the watchdog ends it.
extern "C" [[gnu::noinline]] void runaway_spin(volatile std::uint64_t* counter)
{
    Guard held;
    for (;;)
        *counter = *counter + 1;
}

// Two of the cell's own sleeping locks (abi/cell_mutex.h), for the deadlock tests.
namespace {
delos::cell::Mutex g_locks[2];
} // namespace

// Takes lock `first`, calls `between` (the test lines both tasks up there), then lock `second`.
// Two tasks calling it in opposite orders deadlock: the wait that closes the cycle is ended and
// its task unwound from it (its guards release the lock it held); the other returns 1.
extern "C" [[gnu::noinline]] int runaway_lock_pair(int first, int second, void (*between)())
{
    Guard held;
    delos::cell::MutexGuard outer(g_locks[first & 1]);
    between();
    delos::cell::MutexGuard inner(g_locks[second & 1]);
    return 1;
}

// Holds lock `which` while `while_held` runs (a long sleep or event wait: never ended).
extern "C" [[gnu::noinline]] int runaway_hold_lock(int which, void (*while_held)())
{
    Guard held;
    delos::cell::MutexGuard guard(g_locks[which & 1]);
    while_held();
    return 1;
}

extern "C" bool runaway_lock_is_free(int which)
{
    if (!g_locks[which & 1].try_lock())
        return false;
    g_locks[which & 1].unlock();
    return true;
}

DELOS_CELL("runaway", "1.0.0", nullptr, nullptr);
