// local_apic.h: this CPU's local APIC (xAPIC, memory-mapped at abi::kLocalApicBase): enabling it,
// a one-shot timer armed at a TSC deadline (TSC-deadline mode where CPUID offers it, else the
// count-down timer calibrated against the TSC), and end-of-interrupt.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::local_apic {

// The vector the timer raises; above the exceptions, below anything devices are given.
inline constexpr std::uint8_t kTimerVector = 0x40;
inline constexpr std::uint8_t kSpuriousVector = 0xff;

enum class TimerMode : std::uint8_t {
    TscDeadline,  // IA32_TSC_DEADLINE: fire when the TSC reaches a value (one MSR write to arm)
    CountDown,    // initial-count register, converted from TSC ticks with the calibrated ratio
};

// Maps the registers, software-enables the APIC with its spurious vector, picks the timer mode
// and calibrates the count-down timer against the TSC (tsc::calibrate() must have run).
ErrorOr<void> initialize();
bool initialized();

TimerMode timer_mode();
const char* timer_mode_name();
// Count-down timer ticks per second (after the divider), measured against the TSC; 0 in
// TSC-deadline mode, where the count-down timer is not used and not calibrated.
std::uint64_t timer_ticks_per_second();

// One-shot: raise kTimerVector once the TSC reaches `tsc_deadline` (at once if it has passed).
// Re-arming replaces the previous deadline.
void arm_timer_at(std::uint64_t tsc_deadline);
void disarm_timer();

// Acknowledges the interrupt being handled; every handler of an APIC-delivered vector calls it.
void end_of_interrupt();

std::uint32_t id();

// Whether `vector` waits in the interrupt request register (raised, not yet delivered): what a
// masked interrupt looks like on the ordinary path (selftests).
bool interrupt_requested(std::uint8_t vector);
// Whether `vector` is in service (delivered by the local APIC, its EOI not yet sent): a device's
// interrupt is, an `int` instruction's never is.
bool interrupt_in_service(std::uint8_t vector);

} // namespace delos::local_apic
