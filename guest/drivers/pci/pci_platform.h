// pci_platform.h: the machine's PCI: the configuration mechanism (ECAM from the ACPI MCFG table,
// else port I/O CF8/CFC), one enumeration of every function behind the root bus, uncached access
// to device memory, and BAR assignment where the firmware left a memory BAR unassigned.
// Command line: pci=off (no PCI), pci=ports (CF8/CFC even when MCFG names an ECAM window).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/acpi/mcfg.h"
#include "lib/core/error_or.h"
#include "lib/pci/bars.h"
#include "lib/pci/config_space.h"
#include "lib/pci/enumeration.h"
#include "lib/pci/intx_routing.h"
#include "lib/pci/memory_access.h"

namespace delos::pci {

inline constexpr std::size_t kMaxFunctions = 128;

struct Platform {
    ConfigSpace* config = nullptr;
    const char* mechanism = "";
    Chipset chipset = Chipset::Unknown;
    bool has_ecam = false;
    acpi::EcamRegion ecam{};
    Function functions[kMaxFunctions];
    std::size_t count = 0;
};

// Finds the mechanism and enumerates, once (later calls return the first result). NotFound when
// the machine has no PCI (delos-vmm, microvm): no MCFG and CF8 does not hold what is written to it.
ErrorOr<Platform*> platform();

// Volatile loads and stores on the linear map (callers map the range with map_device_memory first).
MemoryAccess& device_memory();
ErrorOr<void> map_device_memory(std::uint64_t address, std::uint64_t length);

// Sizes the BARs of functions[index] and gives each unassigned memory BAR an address: from the
// parent bridge's memory window, or on the root bus from the 32-bit hole below the IOAPIC,
// around every address already in use. With `forget_firmware_addresses`, the function's memory
// BARs are cleared first (a test of this path on firmware that assigns everything).
ErrorOr<void> read_and_assign_bars(Platform& platform, std::size_t index, Bar* bars, bool forget_firmware_addresses);

} // namespace delos::pci
