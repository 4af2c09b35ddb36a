// vm_generation.h: the VM generation the host gives a snapshot clone (QEMU
// `-fw_cfg name=opt/org.delos/generation,string=VALUE`, docs/fleet.md): a guest restored from a
// snapshot sees a value the template did not have, and takes a fresh identity (boot id).
#pragma once

#include "lib/core/string_view.h"

namespace delos::platform {

// Reads the generation now (fw_cfg port I/O; "" if there is no fw_cfg, no such file, or its
// value is refused as malformed: refusals are printed) and remembers it. Returns true when it
// differs from the value remembered before (the first call, at boot, compares with ""). The
// value stays valid in `out_value` until the next call. Called by one task at a time.
bool vm_generation_changed(StringView& out_value);

} // namespace delos::platform
