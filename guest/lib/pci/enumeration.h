// enumeration.h: finding every function on the buses below a root bus, following PCI-to-PCI
// bridges (PCIe root ports included) to their secondary buses. The topology comes from the
// device: a bridge naming a bus already scanned, or a bus outside the allowed range, is reported
// and skipped, so the walk ends on any input.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/pci/config_space.h"

namespace delos::pci {

inline constexpr std::size_t kNoParent = ~std::size_t{0};

struct Function {
    Address address;
    std::uint16_t vendor_id = kNoVendor;
    std::uint16_t device_id = 0;
    std::uint8_t class_code = 0, subclass = 0, prog_if = 0, revision = 0;
    std::uint8_t header_type = 0;     // without the multifunction bit
    std::uint8_t interrupt_pin = 0;   // 0 none, 1..4 INTA..INTD
    std::uint8_t interrupt_line = 0;  // what the firmware wrote (its legacy IRQ)
    std::uint8_t secondary_bus = 0;   // bridges only
    // Index (in the enumeration's output) of the bridge this function sits behind, or kNoParent.
    std::size_t parent = kNoParent;

    bool is_bridge() const { return header_type == kHeaderBridge; }
};

struct EnumerationLimits {
    std::uint8_t first_bus = 0;  // the root bus
    std::uint8_t last_bus = 255;  // ECAM covers only the buses MCFG names
};

struct EnumerationResult {
    std::size_t count = 0;       // functions written
    std::size_t dropped = 0;     // functions found beyond the output's capacity
    std::size_t bad_bridges = 0;  // bridges whose secondary bus was refused
};

// Scans `limits.first_bus` and every bus reachable through bridges, breadth first, each bus at
// most once. Functions go to `out` in discovery order (a bridge before what is behind it).
EnumerationResult enumerate(ConfigSpace& config, Function* out, std::size_t capacity, EnumerationLimits limits = {});

// The INTx pin (1..4) and root-bus device number a function's interrupt arrives on after the
// standard bridge swizzle (PCI-to-PCI Bridge 1.2 §9.1): what a chipset's routing table is indexed by.
struct RootInterrupt {
    std::uint8_t pin = 0;  // 0: the function uses no INTx pin
    std::uint8_t root_device = 0;
};
RootInterrupt root_interrupt(const Function* functions, std::size_t count, std::size_t index);

} // namespace delos::pci
