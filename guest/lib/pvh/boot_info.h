// boot_info.h: the validated contents of a PVH hvm_start_info, read from untrusted guest RAM.
// Freestanding and allocation-free: the kernel reads it before it has a heap; host tests read
// what delos-vmm writes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::pvh {

inline constexpr std::size_t kMaxMemoryRegions = 64;
inline constexpr std::size_t kMaxModules = 16;
inline constexpr std::size_t kMaxCommandLine = 0x8000;

struct MemoryRegion {
    std::uint64_t start;
    std::uint64_t size;
    std::uint32_t type;  // abi::kMemoryRam, abi::kMemoryReserved, ...
};

struct Module {
    std::uint64_t address;
    std::uint64_t size;
};

struct BootInfo {
    std::uint64_t start_info_address = 0;
    StringView command_line;
    MemoryRegion memory[kMaxMemoryRegions];
    std::size_t memory_region_count = 0;
    Module modules[kMaxModules];
    std::size_t module_count = 0;
    // ACPI RSDP as the loader found it (0: none, e.g. delos-vmm); unchecked: acpi/tables.h checks it.
    std::uint64_t rsdp_address = 0;

    // The end of the highest RAM region: the size of the linear map.
    std::uint64_t ram_end() const;
};

// `physical_memory` views guest-physical address 0 onwards (in the guest: the identity map;
// on the host: the VMM's mapping). Every pointer in start_info is checked to lie inside it.
ErrorOr<void> read_boot_info(ByteView physical_memory, std::uint64_t start_info_address, BootInfo& out);

} // namespace delos::pvh
