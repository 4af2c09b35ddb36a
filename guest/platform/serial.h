// serial.h: the kernel's COM1 console (16550 UART); the one output every part of the guest can use.
#pragma once

#include "lib/core/string_view.h"

namespace delos::serial {

// Writes text to COM1. Safe from any task and from interrupt handlers (serialised by a lock).
void write(StringView text);

// Also hands every write to `listener` (called with the console lock held and interrupts off:
// it must only copy, never block or allocate). The control agent uses it to forward log lines.
using Listener = void (*)(StringView text);
void set_listener(Listener listener);

} // namespace delos::serial
