// pci_devices.h: brings up drivers for the virtio-pci functions PCI enumeration finds (console
// today) and wires their interrupts: MSI-X where the function has it, else INTx through the IOAPIC.
// Command line: virtio_pci.interrupts=intx (INTx even with MSI-X), virtio_pci.reassign_bars=1
// (ignore the firmware's BAR addresses and assign our own: exercises BAR assignment).
//
// Join point for the device registry: this file plays for PCI what mmio_devices.cpp plays for
// virtio-mmio; a registry replaces both start functions and the console lists.
#pragma once

#include <cstddef>

#include "drivers/virtio/console.h"
#include "lib/error_or.h"

namespace delos::virtio {

// Probes once (later calls return the first result): 0 consoles when the machine has no PCI.
// Needs the local APIC (the scheduler enables it). Returns how many consoles started.
ErrorOr<std::size_t> start_pci_devices();

std::size_t pci_console_count();
ConsoleDriver& pci_console(std::size_t index);

} // namespace delos::virtio
