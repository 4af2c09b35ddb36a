// vm_generation.h: the VM generation the host gives a snapshot clone (QEMU
// `-fw_cfg name=opt/org.delos/generation,string=VALUE`, docs/fleet.md): a guest restored from a
// snapshot sees a value the template did not have, and takes a fresh identity (boot id).
#pragma once

#include "lib/core/string_view.h"

namespace delos::platform {

struct VmGenerationCheck {
    bool changed = false;          // differs from the value remembered before ("" at the first check)
    StringView value;              // valid until the next check
    const char* refused = nullptr;  // why a present value was refused (then value is ""), for the log
};

// Reads the generation now (fw_cfg port I/O; "" if there is no fw_cfg, no such file, or its
// value is refused as malformed) and remembers it. The first call is at boot. Called by one task
// at a time.
VmGenerationCheck check_vm_generation();

} // namespace delos::platform
