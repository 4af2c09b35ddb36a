// control_agent.h: the guest end of the control channel. A task that serves the channel
// protocol (proto/delos/v1/channel.proto) on the virtio-console port org.delos.control.0:
// hello, ping, list/push/load/unload cells, stats; and events: ready on each connection,
// console log lines.
#pragma once

#include "lib/core/error_or.h"

namespace delos::control {

// Opens the control port (when a virtio-mmio console is announced on the command line) and
// spawns the agent task. Returns an error when there is no control port to serve.
ErrorOr<void> start_control_agent();

// Serves the channel on the current task, forever (what the agent task runs).
[[noreturn]] void serve_control_channel();

} // namespace delos::control
