// mmio_devices.h: the virtio-mmio bus: the devices `virtio_mmio.device=` options announce, each
// attached (MmioTransport) and added to the device registry with its IOAPIC interrupt line.
#pragma once

#include <cstddef>

namespace delos::virtio {

// Attaches every announced device once and adds it to devices::add_virtio_device (which binds
// the drivers). Malformed options and absent devices are reported and skipped. Needs the local
// APIC (the scheduler enables it). Returns how many devices were added.
std::size_t discover_mmio_devices();

} // namespace delos::virtio
