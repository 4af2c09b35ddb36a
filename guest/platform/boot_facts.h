// boot_facts.h: what every layer may ask about this boot: the PVH boot info (RAM map, command
// line, modules) and how long booting took. kernel_main records them; nothing else writes them.
#pragma once

#include <cstdint>

#include "lib/pvh/boot_info.h"

namespace delos::platform {

const pvh::BootInfo& boot_info();
// Boot-only memory returned to the frame allocator once the nano_core is done.
std::uint64_t bytes_reclaimed();
// PVH entry to the ready line.
std::uint64_t boot_ns();
// How long linking the boot set from the cell archive took.
std::uint64_t boot_set_link_ns();

// Recording, for kernel_main only.
void record_boot_info(const pvh::BootInfo& info);
void record_bytes_reclaimed(std::uint64_t bytes);
void record_boot_ns(std::uint64_t ns);
void record_boot_set_link_ns(std::uint64_t ns);

} // namespace delos::platform
