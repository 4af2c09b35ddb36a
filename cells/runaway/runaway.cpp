// runaway.cpp: a test-only cell (NOT_BOOT) whose functions never finish on their own: one
// recurses without bound (each level holds a guard with a destructor and a buffer), one loops
// forever bumping a counter while holding a guard. The selftest (guest/selftest/fault_tests.cpp)
// calls them in tasks: the stack overflow is caught by the split-stack prologue check and the
// endless loop by the watchdog; either way the task is unwound, every guard's destructor runs
// (runaway_live_guards() is back to 0) and the kernel runs on. Its two locks deadlock on demand
// (runaway_lock_pair), and are held across long waits (runaway_hold_lock). At the end, faults at
// containment's edges: masked interrupts, a fault in a cleanup, a stack that cannot be unwound.
#include <cstdint>

#include "abi/cell_mutex.h"
#include "linker/cell_info.h"
#include "sync/spin_lock.h"

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

// --- Containment's edge cases (docs/fault-campaign.md, "Containment limits"), each a fault the
// fault campaign saw stop the guest before. ---

// Inlined channel code in a cell masks interrupts for a SpinLock, then faults on the lock's
// corrupted address before it holds it: masked, but no spin lock held.
extern "C" [[gnu::noinline]] void runaway_take_spin_lock(std::uint64_t lock_address)
{
    reinterpret_cast<delos::SpinLock*>(lock_address)->lock();
}

extern "C" [[gnu::noinline]] int runaway_masked_fault(std::uint64_t lock_address)
{
    Guard held;
    runaway_take_spin_lock(lock_address);
    return 1;
}

// A cleanup that faults: the destructor writes through the pointer it was given.
namespace {
struct FaultyCleanup {
    volatile std::uint64_t* target;
    ~FaultyCleanup() { *target = 1; }
};
} // namespace

extern "C" [[gnu::noinline]] void runaway_write(volatile std::uint64_t* target) { *target = 2; }

// Faults writing through `bad`; its unwind runs `inner`'s destructor, then the faulty cleanup's,
// which faults again: that landing pad is abandoned and the unwind goes on in the caller.
extern "C" [[gnu::noinline]] int runaway_fault_in_cleanup(volatile std::uint64_t* bad)
{
    FaultyCleanup faulty{bad};
    Guard inner;
    runaway_write(bad);
    return 1;
}

// A cleanup that never ends: its destructor counts for ever (the campaign: a String destroyed
// through a callee-saved register the faulting callee never restored, its size read from freed
// memory and counted down from ~2^60). Only the watchdog ends that landing pad.
namespace {
struct EndlessCleanup {
    volatile std::uint64_t* counter;
    ~EndlessCleanup()
    {
        for (;;)
            *counter = *counter + 1;
    }
};
} // namespace

extern "C" [[gnu::noinline]] int runaway_fault_with_an_endless_cleanup(volatile std::uint64_t* bad, volatile std::uint64_t* counter)
{
    EndlessCleanup endless{counter};
    Guard inner;
    runaway_write(bad);
    return 1;
}

// A fault with nothing above it that unwinds: 4 KiB of zeroed stack below its frame and no CFI
// for them (the return address the tables name is 0), so the unwind can neither start here nor
// resume at a return address up the stack. The task ends without its cleanups.
extern "C" void runaway_fault_without_return_path();
asm(R"(
    .section .text.runaway_fault_without_return_path, "ax"
    .global runaway_fault_without_return_path
    .type runaway_fault_without_return_path, @function
runaway_fault_without_return_path:
    .cfi_startproc
    subq $4096, %rsp
    movq %rsp, %rdi
    movq $512, %rcx
    xorl %eax, %eax
    rep stosq
    ud2
    .cfi_endproc
    .size runaway_fault_without_return_path, . - runaway_fault_without_return_path
    .text
)");

// Runs its stack pointer off the task's stack (to the null page) and pushes: the page fault
// cannot be delivered there, a double fault (on its own stack) is what the kernel sees.
extern "C" void runaway_run_off_the_stack();
asm(R"(
    .section .text.runaway_run_off_the_stack, "ax"
    .global runaway_run_off_the_stack
    .type runaway_run_off_the_stack, @function
runaway_run_off_the_stack:
    .cfi_startproc
    movq $0x1000, %rsp
    pushq $0
    ud2
    .cfi_endproc
    .size runaway_run_off_the_stack, . - runaway_run_off_the_stack
    .text
)");

// Moves its stack pointer to `stack_top` (memory that is not the task's stack: a heap block in the
// selftest) and calls `function` there, as a corrupted `mov %edi,%esp` in a cell's prologue did in
// the fault campaign. The function's split-stack prologue finds rsp off the task's stack and traps.
extern "C" void runaway_call_off_the_stack(std::uint64_t stack_top, void (*function)());
asm(R"(
    .section .text.runaway_call_off_the_stack, "ax"
    .global runaway_call_off_the_stack
    .type runaway_call_off_the_stack, @function
runaway_call_off_the_stack:
    .cfi_startproc
    movq %rdi, %rsp
    call *%rsi
    ud2
    .cfi_endproc
    .size runaway_call_off_the_stack, . - runaway_call_off_the_stack
    .text
)");

// Moves its stack pointer to `stack_top` and returns to a zero word there, as a corrupted
// `ret $imm16` in a cell did in the fault campaign: an instruction fetch at 0 with rsp off the stack.
extern "C" void runaway_return_off_the_stack(std::uint64_t stack_top);
asm(R"(
    .section .text.runaway_return_off_the_stack, "ax"
    .global runaway_return_off_the_stack
    .type runaway_return_off_the_stack, @function
runaway_return_off_the_stack:
    .cfi_startproc
    movq %rdi, %rsp
    pushq $0
    ret
    .cfi_endproc
    .size runaway_return_off_the_stack, . - runaway_return_off_the_stack
    .text
)");

DELOS_CELL("runaway", "1.0.0", nullptr, nullptr);
