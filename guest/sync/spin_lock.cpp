// spin_lock.cpp: the count of spin locks this CPU holds and the stuck-lock check (spin_lock.h),
// both read by fault containment.
#include "sync/spin_lock.h"

#include "arch/x86_64/tsc.h"

extern "C" std::uint32_t delos_spin_locks_held = 0;

namespace {
constexpr std::uint64_t kStuckBudgetMilliseconds = 1000;
} // namespace

// The trap fault containment recognises (recovery/fault_containment.cpp): [rsp] is the return
// address into delos_spin_lock_waited, rdi the lock.
extern "C" void delos_spin_lock_stuck_trap(const void* lock);
asm(R"(
    .section .text.delos_spin_lock_stuck_trap, "ax"
    .global delos_spin_lock_stuck_trap
    .type delos_spin_lock_stuck_trap, @function
delos_spin_lock_stuck_trap:
    .cfi_startproc
    ud2
    ret
    .cfi_endproc
    .size delos_spin_lock_stuck_trap, . - delos_spin_lock_stuck_trap
    .text
)");

extern "C" [[gnu::noinline]] void delos_spin_lock_waited(const void* lock, std::uint64_t* since)
{
    std::uint64_t now = delos::cpu::read_tsc();
    if (*since == 0) {
        *since = now;
        return;
    }
    std::uint64_t per_ms = delos::tsc::ticks_per_second() / 1000;
    if (per_ms == 0 || (now - *since) / per_ms < kStuckBudgetMilliseconds)
        return;
    delos_spin_lock_stuck_trap(lock);  // returns only if nothing handled the #UD (then the CPU has stopped)
    *since = now;
}
