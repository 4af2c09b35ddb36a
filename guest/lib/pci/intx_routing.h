// intx_routing.h: which IOAPIC input (GSI) a PCI function's INTx pin reaches on the chipsets QEMU
// emulates, without an AML interpreter for the DSDT's _PRT. i440FX/PIIX routes PIRQ links to ISA
// IRQs that the firmware writes into the Interrupt Line register (identity-mapped to IOAPIC pins);
// Q35/ICH9 wires PIRQ A..H to GSI 16..23 by a fixed per-slot table.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/pci/enumeration.h"

namespace delos::pci {

enum class Chipset : std::uint8_t { Piix, Ich9, Unknown };

// From the host bridge at 00:00.0 (8086:1237 i440FX, 8086:29c0 Q35 MCH).
Chipset identify_chipset(std::uint16_t vendor_id, std::uint16_t device_id);
const char* chipset_name(Chipset chipset);

struct IntxRoute {
    std::uint32_t gsi = 0;
    // QEMU's ACPI tables declare both chipsets' PCI interrupts level-triggered, active high.
    bool level_triggered = true;
    bool active_low = false;
};

// The GSI for `interrupt` (pin after the swizzle, root-bus device) of a function whose firmware
// wrote `interrupt_line`. Unknown chipsets fall back to the Interrupt Line as GSI.
ErrorOr<IntxRoute> route_intx(Chipset chipset, RootInterrupt interrupt, std::uint8_t interrupt_line);

} // namespace delos::pci
