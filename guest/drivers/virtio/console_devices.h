// console_devices.h: the virtio-console driver's binding to the device registry, and the consoles
// it started (on any transport), for ControlPort to search by port name.
#pragma once

#include <cstddef>

#include "drivers/virtio/console.h"
#include "lib/core/error_or.h"

namespace delos::virtio {

// Registers the console driver for virtio device type 3 (devices::discover_devices does).
ErrorOr<void> register_console_driver();

// The consoles that started, in binding order.
std::size_t console_count();
ConsoleDriver& console(std::size_t index);

} // namespace delos::virtio
