// pci_devices.h: the virtio-pci bus: every virtio function PCI enumeration finds gets a
// PciTransport (BARs mapped uncached, assigned first where the firmware left them empty) and an
// interrupt line: MSI-X where the function has it, else level-triggered INTx through the IOAPIC.
// Command line: virtio_pci.interrupts=intx (INTx even with MSI-X), virtio_pci.reassign_bars=1
// (ignore the firmware's BAR addresses and assign our own: exercises BAR assignment).
//
// Join point with the device registry (qemu-mmio branch, drivers/device_registry.h): the bus
// side below has the registry's shape (PciInterruptLine keeps devices::InterruptLine's contract;
// each device goes through add_pci_virtio_device, i.e. devices::add_virtio_device). On this
// branch, without the registry, add_pci_virtio_device binds the console driver itself and
// pci_console_count/pci_console list the started consoles for ControlPort.
#pragma once

#include <cstddef>

#include "drivers/virtio/console.h"

namespace delos::virtio {

// Attaches every virtio function once (later calls return the first result) and adds it.
// Needs the local APIC (the scheduler enables it). Returns how many devices were added; 0 when
// the machine has no PCI.
std::size_t discover_pci_devices();

} // namespace delos::virtio
