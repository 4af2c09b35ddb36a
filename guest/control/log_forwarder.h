// log_forwarder.h: console lines on their way to the controller as LogLine events. Lines are
// captured from the serial console into a fixed ring (no allocation, safe in any context) and
// handed out whole to the control agent, which sends them.
#pragma once

#include <cstddef>

#include "lib/proto/channel_messages.h"

namespace delos::control {

// Starts capturing console output.
void start_log_capture();

// Takes the next complete captured line, parsed into cell, level and text ("[info ] kv: ready"
// comes from the log cell; anything else is the kernel's). False when no whole line waits.
bool take_log_line(channel::LogLine& line);

// Lines dropped because the ring was full (the agent was not draining it).
std::size_t dropped_log_lines();

} // namespace delos::control
