// cell_call_gate.h: calling into another cell without trusting it with the caller's registers or
// stack: the gate saves the callee-saved registers itself and restores them after the call (a
// cell that skipped a push or had its saved copy corrupted cannot hand back wrong ones), gives
// the callee poisoned callee-saved registers (a cell that uses one it never set, such as a frame
// pointer whose set-up was skipped, faults on a non-canonical address instead of writing through
// its caller's pointer) and a zeroed stack below the caller's (stale words of earlier calls read
// as null, not as pointers). Described to the unwinder by CFI: a fault in the callee unwinds
// through it. docs/fault-campaign.md, "The call gate".
#pragma once

#include <cstdint>
#include <type_traits>

extern "C" {
// Calls function(a0, a1, a2) through the gate; returns what it left in rax.
std::uint64_t delos_cell_call_gate(const void* function, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2);
// The gate's address range (for tests).
extern const char delos_cell_call_gate_end[];
}

namespace delos::runtime {

// What the callee finds in rbx, rbp and r12-r15: non-canonical, so any load or store through it
// (or a small offset from it) is a #GP or #SS of the calling task.
inline constexpr std::uint64_t kCellCallPoison = 0x0dead0000dead000ull;
// How much stack below the caller's the gate zeroes (never below the task's stack limit).
inline constexpr std::uint64_t kCellCallScrubBytes = 2048;

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
    (void)delos_cell_call_gate(reinterpret_cast<const void*>(function), words[0], words[1], words[2]);
}

} // namespace delos::runtime
