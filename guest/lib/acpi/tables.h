// tables.h: finding ACPI tables from the RSDP (ACPI 6.4 §5.2.5-§5.2.8): the root table (XSDT, or
// RSDT for revision 0), then a table by signature. Firmware memory is read through a reader that
// may refuse any address; signatures, lengths and checksums are checked before a table is used.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::acpi {

// Copies guest-physical memory; false where the address is not readable.
class PhysicalMemoryReader {
public:
    virtual ~PhysicalMemoryReader() = default;
    virtual bool read(std::uint64_t address, void* out, std::size_t length) = 0;
};

inline constexpr std::uint32_t kTableHeaderBytes = 36;
// Longer tables are refused (a hostile length would make the checksum walk gigabytes).
inline constexpr std::uint32_t kMaxTableBytes = 1u << 20;
inline constexpr std::uint32_t kMaxRootEntries = 256;

struct RootTable {
    std::uint64_t address = 0;
    bool extended = false;  // XSDT (64-bit entries) rather than RSDT
    std::uint32_t entries = 0;
};

struct TableLocation {
    std::uint64_t address = 0;
    std::uint32_t length = 0;
};

// Checks the RSDP at `rsdp_address` (signature, checksums, revision) and the root table it names.
ErrorOr<RootTable> read_root_table(PhysicalMemoryReader& memory, std::uint64_t rsdp_address);

// The first table listed in `root` whose signature is `signature` (4 characters), with a valid
// header and checksum. NotFound when no listed table has it.
ErrorOr<TableLocation> find_table(PhysicalMemoryReader& memory, const RootTable& root, const char* signature);

} // namespace delos::acpi
