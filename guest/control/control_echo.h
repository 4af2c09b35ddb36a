// control_echo.h: the `control-echo` kernel command: echoes every byte received on the control port.
#pragma once

namespace delos::virtio {

// Opens the control port and echoes forever, printing "control: connected" / "control:
// disconnected" on changes. Returns only if the port cannot be opened or the device breaks.
void run_control_echo();

} // namespace delos::virtio
