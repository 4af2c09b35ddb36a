// stack_limit.h: the per-CPU stack limit that every guest function's prologue checks (GCC's
// -fsplit-stack: `cmp %fs:0x70, %rsp; jb` → __morestack). Delos never grows a stack: its
// __morestack traps (#UD at delos_stack_overflow_trap), and fault containment turns that into a
// contained STACK_OVERFLOW fault of the task (docs/watchdog-and-stack-overflow.md). A limit of 0
// checks nothing (the boot and idle tasks, and interrupt handlers: interrupts.S zeroes it).
#pragma once

#include <cstdint>

namespace delos::arch {

inline constexpr std::uint32_t kStackLimitOffset = 0x70;  // GCC's TARGET_THREAD_SPLIT_STACK_OFFSET on x86-64

// The limit in force now (lowest stack pointer a function may start its frame at).
[[gnu::always_inline]] inline std::uint64_t stack_limit()
{
    std::uint64_t limit;
    asm volatile("movq %%fs:0x70, %0" : "=r"(limit));
    return limit;
}
[[gnu::always_inline]] inline void set_stack_limit(std::uint64_t limit)
{
    asm volatile("movq %0, %%fs:0x70" ::"r"(limit) : "memory");
}

// The running task's stack top in the per-CPU block (%fs:0x88; 0 for a task without a stack of its
// own): where interrupts.S moves an event that came from outside ring 0 (a corrupted iret).
// The scheduler sets it at each switch.
inline constexpr std::uint32_t kRunningStackTopOffset = 0x88;
[[gnu::always_inline]] inline void set_running_stack_top(std::uint64_t top)
{
    asm volatile("movq %0, %%fs:0x88" ::"r"(top) : "memory");
}

// Points FS at the per-CPU block holding the limit (entry.S does it first, before any C++; every
// reload of the segment registers and the switch to kvm_pvm's native mode do it again).
__attribute__((no_split_stack)) void install_stack_limit_block();

} // namespace delos::arch

extern "C" {
extern unsigned char delos_stack_limit_block[];  // FS base: the limit lives at +0x70
// The instruction __morestack traps at: a #UD here is a stack overflow, not an invalid opcode.
extern const char delos_stack_overflow_trap[];
}
