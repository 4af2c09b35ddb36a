// mcfg.cpp: checked MCFG allocation entries.
#include "lib/acpi/mcfg.h"

#include "lib/acpi/tables.h"

namespace delos::acpi {

namespace {
constexpr std::uint64_t kFirstEntry = kTableHeaderBytes + 8;  // 8 reserved bytes after the header
constexpr std::uint64_t kEntryBytes = 16;
} // namespace

ErrorOr<std::size_t> parse_mcfg(ByteView table, EcamRegion* out, std::size_t capacity)
{
    auto signature = table.read<std::uint32_t>(0);
    if (signature.is_error() || signature.value() != 0x4746434du)  // "MCFG"
        return Error::make(ErrorCode::Malformed, "mcfg: not an MCFG table");
    auto length = table.read<std::uint32_t>(4);
    if (length.is_error() || length.value() < kFirstEntry || length.value() > table.size())
        return Error::make(ErrorCode::Malformed, "mcfg: length out of range");
    std::uint64_t entries = (length.value() - kFirstEntry) / kEntryBytes;
    std::size_t found = 0;
    for (std::uint64_t i = 0; i < entries; ++i) {
        std::uint64_t at = kFirstEntry + i * kEntryBytes;
        EcamRegion region;
        region.base = TRY(table.read<std::uint64_t>(at));
        region.segment = TRY(table.read<std::uint16_t>(at + 8));
        region.start_bus = TRY(table.read<std::uint8_t>(at + 10));
        region.end_bus = TRY(table.read<std::uint8_t>(at + 11));
        if (region.end_bus < region.start_bus)
            return Error::make(ErrorCode::Malformed, "mcfg: end bus before start bus", i);
        if (region.base == 0 || (region.base & 0xfffff) != 0)
            return Error::make(ErrorCode::Malformed, "mcfg: ECAM base not 1 MiB aligned", region.base);
        std::uint64_t end = region.base + ((std::uint64_t(region.end_bus) + 1) << 20);
        if (end < region.base)
            return Error::make(ErrorCode::Malformed, "mcfg: ECAM window wraps around", region.base);
        if (found == capacity)
            return Error::make(ErrorCode::OutOfRange, "mcfg: more ECAM windows than expected", entries);
        out[found++] = region;
    }
    return found;
}

} // namespace delos::acpi
