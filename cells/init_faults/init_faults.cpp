// init_faults.cpp: a test-only cell (NOT_BOOT) whose init takes a page fault (a null write) while
// a local with a destructor is live. The cell manager registers a cell's unwind tables before its
// constructors and init run, and runs them in tasks of their own, so the fault is contained to
// the init task: the load fails with the fault in its reason and the kernel runs on.
#include <cstdint>

#include "linker/cell_info.h"

namespace {

volatile std::uint64_t g_null_address = 0;  // read at run time: the compiler cannot see the null
int g_live_guards = 0;

struct Guard {
    Guard() { ++g_live_guards; }
    ~Guard() { --g_live_guards; }
};

[[gnu::noinline]] void write_through_null(int value)
{
    Guard held;
    *reinterpret_cast<volatile int*>(g_null_address) = value;
}

delos::ErrorOr<void> init_faults_init()
{
    write_through_null(7);
    return {};
}

} // namespace

DELOS_CELL("init_faults", "1.0.0", init_faults_init, nullptr);
