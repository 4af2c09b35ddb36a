// mcfg.h: the MCFG table (PCI Firmware 3.2 §4.1.2): where each PCI segment's ECAM window is.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"

namespace delos::acpi {

struct EcamRegion {
    std::uint64_t base = 0;  // address of bus 0's configuration space (even when start_bus > 0)
    std::uint16_t segment = 0;
    std::uint8_t start_bus = 0;
    std::uint8_t end_bus = 0;

    // Where the window's first mapped byte is and how long it is.
    std::uint64_t first_byte() const { return base + (std::uint64_t(start_bus) << 20); }
    std::uint64_t bytes() const { return (std::uint64_t(end_bus) - start_bus + 1) << 20; }
};

// Parses a whole MCFG table (header included, already checksummed by find_table). Entries with
// end_bus < start_bus, an unaligned or zero base, or a window that wraps are refused.
ErrorOr<std::size_t> parse_mcfg(ByteView table, EcamRegion* out, std::size_t capacity);

} // namespace delos::acpi
