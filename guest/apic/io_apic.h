// io_apic.h: the I/O APIC at abi::kIoApicBase: routing its input pins (device interrupt lines) to
// vectors on the boot CPU. Pin N is given vector vector_for_pin(N); every pin starts masked.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::io_apic {

// Device interrupts take vectors 0x50 + pin: above the local APIC timer (0x40), below 0xff.
inline constexpr std::uint8_t kFirstPinVector = 0x50;
constexpr std::uint8_t vector_for_pin(std::uint8_t pin) { return static_cast<std::uint8_t>(kFirstPinVector + pin); }

enum class Trigger : std::uint8_t { Edge, Level };
enum class Polarity : std::uint8_t { ActiveHigh, ActiveLow };

// Maps the registers and masks every pin. Idempotent.
ErrorOr<void> initialize();
std::uint32_t pin_count();

// Delivers `pin` as vector_for_pin(pin) (fixed delivery, physical destination: this CPU's local
// APIC) and unmasks it. Install the vector's handler first.
ErrorOr<void> route_pin(std::uint8_t pin, Trigger trigger, Polarity polarity);
void mask_pin(std::uint8_t pin);

} // namespace delos::io_apic
