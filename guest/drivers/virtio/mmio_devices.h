// mmio_devices.h: brings up drivers for the virtio-mmio devices the command line announces and
// routes their interrupt lines through the IOAPIC. Knows which device ids have a driver.
#pragma once

#include <cstddef>

#include "drivers/virtio/console.h"
#include "lib/core/error_or.h"

namespace delos::virtio {

// Probes every announced device once (later calls return the first call's result): consoles get
// a ConsoleDriver; devices without a driver are reported and left alone. Needs the local APIC
// (the scheduler enables it). Returns how many consoles started.
ErrorOr<std::size_t> start_mmio_devices();

std::size_t console_count();
ConsoleDriver& console(std::size_t index);

} // namespace delos::virtio
