// pvh.h: the PVH boot protocol (Xen's hvm_start_info, as QEMU and delos-vmm implement it).
// Dual-use: the guest reads these structures, the VMM builds them.
#pragma once

#include <cstdint>

namespace delos::abi {

// ELF note (name "Xen") whose descriptor is the 32-bit physical entry point.
inline constexpr std::uint32_t kXenElfNotePhys32Entry = 18;

inline constexpr std::uint32_t kHvmStartMagic = 0x336ec578;
inline constexpr std::uint32_t kHvmStartInfoVersion = 1;  // version 1 adds the memory map

struct HvmStartInfo {
    std::uint32_t magic;
    std::uint32_t version;
    std::uint32_t flags;
    std::uint32_t nr_modules;
    std::uint64_t modlist_paddr;
    std::uint64_t cmdline_paddr;
    std::uint64_t rsdp_paddr;
    std::uint64_t memmap_paddr;
    std::uint32_t memmap_entries;
    std::uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmModlistEntry {
    std::uint64_t paddr;
    std::uint64_t size;
    std::uint64_t cmdline_paddr;
    std::uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

// Memory map entry types follow the E820 numbering.
inline constexpr std::uint32_t kMemoryRam = 1;
inline constexpr std::uint32_t kMemoryReserved = 2;

struct HvmMemmapEntry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
    std::uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

} // namespace delos::abi
