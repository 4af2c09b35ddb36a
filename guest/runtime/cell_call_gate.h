// cell_call_gate.h: calling into another cell without trusting it with the caller's registers or
// stack: the gate saves the callee-saved registers itself and restores them after the call (a
// cell that skipped a push or had its saved copy corrupted cannot hand back wrong ones), gives
// the callee poisoned callee-saved registers (a cell that uses one it never set, such as a frame
// pointer whose set-up was skipped, faults on a non-canonical address instead of writing through
// its caller's pointer) and a zeroed stack below the caller's (stale words of earlier calls read
// as null, not as pointers). Described to the unwinder by CFI: a fault in the callee unwinds
// through it. What the gate restores after the call (those registers, its own stack pointer and
// return address) it reads from the task's save area, off the stack, never from the stack copies
// the callee could have overwritten (CellCallSaveArea). docs/fault-campaign.md, "The call gate".
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

extern "C" {
// Calls function(a0, a1, a2, a3) through the gate (its first four integer argument registers);
// returns what it left in rax.
std::uint64_t delos_cell_call_gate(const void* function, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3);
// The end of the gate's code (fault containment: a return address into the gate).
extern const char delos_cell_call_gate_end[];
// A ud2 the gate leaves right above its callee's return address: a callee that returns one word
// too far traps here (a fault of the open gate call's callee).
extern const char delos_cell_call_gate_overrun[];
}

namespace delos::runtime {

// Whether `return_address` (a word found on a stack) returns into the gate after its call (the
// function it called is in the task's innermost open save-area slot).
inline bool returns_into_cell_call_gate(std::uint64_t return_address)
{
    return return_address > reinterpret_cast<std::uint64_t>(&delos_cell_call_gate)
           && return_address <= reinterpret_cast<std::uint64_t>(delos_cell_call_gate_end);
}

// What the callee finds in rbx, rbp and r12-r15: non-canonical, so any load or store through it
// (or a small offset from it) is a #GP or #SS of the calling task.
inline constexpr std::uint64_t kCellCallPoison = 0x0dead0000dead000ull;
// How much stack below the caller's the gate zeroes (never below the task's stack limit).
inline constexpr std::uint64_t kCellCallScrubBytes = 2048;

// The gate's save area: one slot of sixteen words per open gate call of a task (rbp, rbx, r12-r15,
// the gate's stack pointer after its pushes, its return address, the function it called; the
// rest is padding to a power of two), off the stack where a callee's
// stray or corrupted store through rsp cannot reach it. Each task owns one (task.h); the running
// task's next free slot and the area's end live in the per-CPU block at %fs:0x78 and %fs:0x80,
// which the scheduler swaps at each task switch like the stack limit at %fs:0x70. A gate call before
// the scheduler installs an area (the cursor is 0) or nested deeper than kCellCallNesting, or a
// callee that moved the cursor, traps (#UD) in the gate: a fault of that task, never a call whose
// registers would go unsaved.
inline constexpr std::size_t kCellCallSlotWords = 16;
inline constexpr std::size_t kCellCallSlotFunction = 8;  // the word of a slot that holds the function called
inline constexpr std::size_t kCellCallNesting = 8;
inline constexpr std::uint32_t kCellCallCursorOffset = 0x78;  // in the per-CPU block (FS base)
inline constexpr std::uint32_t kCellCallEndOffset = 0x80;

struct CellCallSaveArea {
    std::uint64_t slots[kCellCallNesting * kCellCallSlotWords];  // written by the gate before it reads them
    std::uint64_t next_free = reinterpret_cast<std::uint64_t>(&slots[0]);  // saved while the task is not running

    std::uint64_t end() const { return reinterpret_cast<std::uint64_t>(&slots[kCellCallNesting * kCellCallSlotWords]); }
    // Gate calls open now (of a task that is not running).
    std::size_t open_calls() const { return (next_free - reinterpret_cast<std::uint64_t>(&slots[0])) / (kCellCallSlotWords * 8); }
};

// The running task's next free slot (what the scheduler saves at a switch).
[[gnu::always_inline]] inline std::uint64_t cell_call_cursor()
{
    std::uint64_t cursor;
    asm volatile("movq %%fs:0x78, %0" : "=r"(cursor));
    return cursor;
}
// The function the running task's innermost open gate call called, or 0 if none is open (or the
// cursor is not a slot boundary inside the area: a wild write, nothing to trust). Fault
// containment blames a fault at no code inside a gate call on this function's cell.
inline std::uint64_t innermost_open_cell_call()
{
    std::uint64_t cursor, end;
    asm volatile("movq %%fs:0x78, %0\n\tmovq %%fs:0x80, %1" : "=r"(cursor), "=r"(end));
    constexpr std::uint64_t kSlotBytes = kCellCallSlotWords * 8;
    std::uint64_t used = end - cursor;  // bytes of the area above the cursor: the free slots
    if (cursor == 0 || used % kSlotBytes != 0 || used >= kCellCallNesting * kSlotBytes)
        return 0;
    return reinterpret_cast<const std::uint64_t*>(cursor - kSlotBytes)[kCellCallSlotFunction];
}

// Makes `area` the running task's (the scheduler, at a switch, for the task it switches to).
[[gnu::always_inline]] inline void install_cell_call_area(const CellCallSaveArea& area)
{
    asm volatile("movq %0, %%fs:0x78\n\tmovq %1, %%fs:0x80" ::"r"(area.next_free), "r"(area.end()) : "memory");
}

namespace detail {
template <typename Parameter, typename Argument>
std::uint64_t gate_word(Argument&& argument)
{
    if constexpr (std::is_reference_v<Parameter>)
        return reinterpret_cast<std::uint64_t>(&argument);
    else if constexpr (std::is_pointer_v<Parameter>)
        return reinterpret_cast<std::uint64_t>(static_cast<Parameter>(argument));
    else {
        static_assert(std::is_integral_v<Parameter>, "the gate passes references, pointers and integers");
        return static_cast<std::uint64_t>(static_cast<Parameter>(argument));
    }
}
} // namespace detail

// A call into a cell's function of up to three reference, pointer or integer parameters,
// returning nothing, through the gate.
template <typename... Parameters, typename... Arguments>
void call_through_gate(void (*function)(Parameters...), Arguments&&... arguments)
{
    static_assert(sizeof...(Parameters) <= 3 && sizeof...(Parameters) == sizeof...(Arguments));
    std::uint64_t words[3] = {detail::gate_word<Parameters>(static_cast<Arguments&&>(arguments))...};
    (void)delos_cell_call_gate(reinterpret_cast<const void*>(function), words[0], words[1], words[2], 0);
}

} // namespace delos::runtime
