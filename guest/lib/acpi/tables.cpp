// tables.cpp: RSDP and root-table validation and the table lookup.
#include "lib/acpi/tables.h"

namespace delos::acpi {

namespace {

struct [[gnu::packed]] Rsdp {
    char signature[8];
    std::uint8_t checksum;
    char oem_id[6];
    std::uint8_t revision;
    std::uint32_t rsdt_address;
    // Revision 2 and later:
    std::uint32_t length;
    std::uint64_t xsdt_address;
    std::uint8_t extended_checksum;
    std::uint8_t reserved[3];
};
static_assert(sizeof(Rsdp) == 36);
constexpr std::size_t kRsdpVersion1Bytes = 20;

struct [[gnu::packed]] TableHeader {
    char signature[4];
    std::uint32_t length;
    std::uint8_t revision;
    std::uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    std::uint32_t oem_revision;
    std::uint32_t creator_id;
    std::uint32_t creator_revision;
};
static_assert(sizeof(TableHeader) == kTableHeaderBytes);

bool same_signature(const char* a, const char* b, std::size_t length)
{
    for (std::size_t i = 0; i < length; ++i) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

std::uint8_t byte_sum(const void* bytes, std::size_t length)
{
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i < length; ++i)
        sum = static_cast<std::uint8_t>(sum + static_cast<const std::uint8_t*>(bytes)[i]);
    return sum;
}

// Reads and checks a table header at `address`; with `signature`, it must match.
ErrorOr<TableLocation> check_table(PhysicalMemoryReader& memory, std::uint64_t address, const char* signature)
{
    TableHeader header;
    if (address == 0 || !memory.read(address, &header, sizeof header))
        return Error::make(ErrorCode::OutOfRange, "acpi: table header not readable", address);
    if (signature && !same_signature(header.signature, signature, 4))
        return Error::make(ErrorCode::NotFound, "acpi: table has another signature", address);
    if (header.length < kTableHeaderBytes || header.length > kMaxTableBytes)
        return Error::make(ErrorCode::Malformed, "acpi: table length out of range", header.length);
    if (address + header.length < address)
        return Error::make(ErrorCode::Malformed, "acpi: table wraps around", address);
    std::uint8_t chunk[256];
    std::uint8_t sum = 0;
    for (std::uint32_t done = 0; done < header.length;) {
        std::uint32_t step = header.length - done < sizeof chunk ? header.length - done : sizeof chunk;
        if (!memory.read(address + done, chunk, step))
            return Error::make(ErrorCode::OutOfRange, "acpi: table body not readable", address + done);
        sum = static_cast<std::uint8_t>(sum + byte_sum(chunk, step));
        done += step;
    }
    if (sum != 0)
        return Error::make(ErrorCode::Malformed, "acpi: table checksum mismatch", address);
    return TableLocation{address, header.length};
}

} // namespace

ErrorOr<RootTable> read_root_table(PhysicalMemoryReader& memory, std::uint64_t rsdp_address)
{
    Rsdp rsdp;
    if (rsdp_address == 0 || !memory.read(rsdp_address, &rsdp, kRsdpVersion1Bytes))
        return Error::make(ErrorCode::OutOfRange, "acpi: RSDP not readable", rsdp_address);
    if (!same_signature(rsdp.signature, "RSD PTR ", 8))
        return Error::make(ErrorCode::Malformed, "acpi: RSDP signature mismatch", rsdp_address);
    if (byte_sum(&rsdp, kRsdpVersion1Bytes) != 0)
        return Error::make(ErrorCode::Malformed, "acpi: RSDP checksum mismatch", rsdp_address);
    RootTable root;
    const char* signature = "RSDT";
    std::uint32_t entry_bytes = 4;
    root.address = rsdp.rsdt_address;
    if (rsdp.revision >= 2) {
        if (!memory.read(rsdp_address, &rsdp, sizeof rsdp))
            return Error::make(ErrorCode::OutOfRange, "acpi: extended RSDP not readable", rsdp_address);
        if (rsdp.length < sizeof rsdp || byte_sum(&rsdp, sizeof rsdp) != 0)
            return Error::make(ErrorCode::Malformed, "acpi: extended RSDP length or checksum wrong", rsdp.length);
        if (rsdp.xsdt_address != 0) {
            root.address = rsdp.xsdt_address;
            root.extended = true;
            signature = "XSDT";
            entry_bytes = 8;
        }
    }
    TableLocation table = TRY(check_table(memory, root.address, signature));
    root.entries = (table.length - kTableHeaderBytes) / entry_bytes;
    if (root.entries > kMaxRootEntries)
        return Error::make(ErrorCode::Malformed, "acpi: root table lists too many tables", root.entries);
    return root;
}

ErrorOr<TableLocation> find_table(PhysicalMemoryReader& memory, const RootTable& root, const char* signature)
{
    std::uint32_t entry_bytes = root.extended ? 8 : 4;
    for (std::uint32_t i = 0; i < root.entries && i < kMaxRootEntries; ++i) {
        std::uint64_t address = 0;
        if (!memory.read(root.address + kTableHeaderBytes + std::uint64_t(i) * entry_bytes, &address, entry_bytes))
            return Error::make(ErrorCode::OutOfRange, "acpi: root table entry not readable", i);
        char found[4];
        if (address == 0 || !memory.read(address, found, sizeof found) || !same_signature(found, signature, 4))
            continue;
        auto table = check_table(memory, address, signature);
        if (!table.is_error())
            return table;
    }
    return Error::make(ErrorCode::NotFound, "acpi: no valid table with that signature");
}

} // namespace delos::acpi
