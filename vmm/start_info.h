// start_info.h: building the PVH hvm_start_info (memory map, command line, modules) in guest RAM.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "guest_memory.h"

namespace delos::vmm {

// Where boot data goes, below the kernel at 1 MiB (the first page stays unused: null guard).
inline constexpr std::uint64_t kStartInfoAddress = 0x6000;  // start_info, then the module list
inline constexpr std::uint64_t kMemmapAddress = 0x7000;
inline constexpr std::uint64_t kCmdlineAddress = 0x8000;
inline constexpr std::uint64_t kCmdlineCapacity = 0x8000;  // up to 0x10000, NUL included
inline constexpr std::size_t kMaxModules = 64;             // 56 + 64 * 32 bytes fit in the page

struct BootModule {
    std::string name;  // shown in errors; also its PVH command line
    std::vector<std::uint8_t> bytes;
};

struct StartInfoPlacement {
    std::uint64_t start_info_address;
    std::vector<std::uint64_t> module_addresses;
};

// Writes start_info, the memory map (all of RAM minus the legacy hole), the command line and
// the modules (page-aligned, from the top of RAM down, above `kernel_end`). Throws BadInput when
// something does not fit.
StartInfoPlacement write_start_info(GuestMemory& memory, const std::string& cmdline,
                                    const std::vector<BootModule>& modules, std::uint64_t kernel_end);

} // namespace delos::vmm
