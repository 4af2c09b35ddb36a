// acpi_tables_test.cpp: RSDP/XSDT/RSDT lookup and MCFG parsing against hostile firmware memory:
// wrong signatures and checksums, lengths that run off memory or wrap, entries that point nowhere.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "lib/acpi/mcfg.h"
#include "lib/acpi/tables.h"

using namespace delos;
using namespace delos::acpi;

namespace {

// Guest-physical memory from address 0: reads outside it are refused.
class FakeMemory final : public PhysicalMemoryReader {
public:
    explicit FakeMemory(std::size_t size) : bytes(size, 0) {}
    bool read(std::uint64_t address, void* out, std::size_t length) override
    {
        if (address > bytes.size() || length > bytes.size() - address)
            return false;
        std::memcpy(out, bytes.data() + address, length);
        return true;
    }
    void put(std::uint64_t address, const void* data, std::size_t length) { std::memcpy(bytes.data() + address, data, length); }
    template <typename T>
    void put_value(std::uint64_t address, T value) { put(address, &value, sizeof value); }
    std::vector<std::uint8_t> bytes;
};

void fix_checksum(std::uint8_t* bytes, std::size_t length, std::size_t checksum_offset)
{
    bytes[checksum_offset] = 0;
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i < length; ++i)
        sum = static_cast<std::uint8_t>(sum + bytes[i]);
    bytes[checksum_offset] = static_cast<std::uint8_t>(-sum);
}

// A table at `address`: header with `signature`, then `body`.
void put_table(FakeMemory& memory, std::uint64_t address, const char* signature, const std::vector<std::uint8_t>& body)
{
    std::vector<std::uint8_t> table(36 + body.size(), 0);
    std::memcpy(table.data(), signature, 4);
    std::uint32_t length = static_cast<std::uint32_t>(table.size());
    std::memcpy(table.data() + 4, &length, 4);
    std::memcpy(table.data() + 36, body.data(), body.size());
    fix_checksum(table.data(), table.size(), 9);
    memory.put(address, table.data(), table.size());
}

void put_rsdp(FakeMemory& memory, std::uint64_t address, std::uint8_t revision, std::uint32_t rsdt, std::uint64_t xsdt)
{
    std::uint8_t rsdp[36] = {};
    std::memcpy(rsdp, "RSD PTR ", 8);
    rsdp[15] = revision;
    std::memcpy(rsdp + 16, &rsdt, 4);
    std::uint32_t length = 36;
    std::memcpy(rsdp + 20, &length, 4);
    std::memcpy(rsdp + 24, &xsdt, 8);
    fix_checksum(rsdp, 20, 8);
    fix_checksum(rsdp, 36, 32);
    memory.put(address, rsdp, sizeof rsdp);
}

std::vector<std::uint8_t> mcfg_body(std::uint64_t base, std::uint16_t segment, std::uint8_t start, std::uint8_t end)
{
    std::vector<std::uint8_t> body(8 + 16, 0);
    std::memcpy(body.data() + 8, &base, 8);
    std::memcpy(body.data() + 16, &segment, 2);
    body[18] = start;
    body[19] = end;
    return body;
}

std::vector<std::uint8_t> pointers(const std::vector<std::uint64_t>& addresses, std::size_t width)
{
    std::vector<std::uint8_t> body;
    for (std::uint64_t a : addresses)
        for (std::size_t i = 0; i < width; ++i)
            body.push_back(static_cast<std::uint8_t>(a >> (8 * i)));
    return body;
}

// What QEMU q35 builds: RSDP revision 2 -> XSDT -> {FACP, MCFG}.
FakeMemory q35_like()
{
    FakeMemory memory(0x10000);
    put_rsdp(memory, 0xf000, 2, 0x2000, 0x3000);
    put_table(memory, 0x2000, "RSDT", pointers({0x4000, 0x5000}, 4));
    put_table(memory, 0x3000, "XSDT", pointers({0x4000, 0x5000}, 8));
    put_table(memory, 0x4000, "FACP", std::vector<std::uint8_t>(100, 0));
    put_table(memory, 0x5000, "MCFG", mcfg_body(0xb0000000, 0, 0, 255));
    return memory;
}

} // namespace

TEST(AcpiTables, FindsMcfgThroughTheXsdt)
{
    FakeMemory memory = q35_like();
    auto root = read_root_table(memory, 0xf000);
    ASSERT_FALSE(root.is_error()) << root.error().message;
    EXPECT_TRUE(root.value().extended);
    EXPECT_EQ(root.value().entries, 2u);
    auto mcfg = find_table(memory, root.value(), "MCFG");
    ASSERT_FALSE(mcfg.is_error());
    EXPECT_EQ(mcfg.value().address, 0x5000u);
    EcamRegion regions[2];
    auto count = parse_mcfg(ByteView(memory.bytes.data() + 0x5000, mcfg.value().length), regions, 2);
    ASSERT_FALSE(count.is_error()) << count.error().message;
    ASSERT_EQ(count.value(), 1u);
    EXPECT_EQ(regions[0].base, 0xb0000000u);
    EXPECT_EQ(regions[0].end_bus, 255);
    EXPECT_EQ(regions[0].bytes(), 256ull << 20);
    EXPECT_TRUE(find_table(memory, root.value(), "APIC").is_error());
}

TEST(AcpiTables, RevisionZeroUsesTheRsdt)
{
    FakeMemory memory = q35_like();
    put_rsdp(memory, 0xf000, 0, 0x2000, 0);
    auto root = read_root_table(memory, 0xf000);
    ASSERT_FALSE(root.is_error());
    EXPECT_FALSE(root.value().extended);
    EXPECT_FALSE(find_table(memory, root.value(), "MCFG").is_error());
}

TEST(AcpiTables, RefusesBadRsdps)
{
    FakeMemory memory = q35_like();
    EXPECT_TRUE(read_root_table(memory, 0).is_error());
    EXPECT_TRUE(read_root_table(memory, 0xfff0).is_error());    // runs off memory
    EXPECT_TRUE(read_root_table(memory, 0x4000).is_error());    // not an RSDP
    memory.bytes[0xf000 + 9] ^= 1;                               // OEM id changed: checksum off
    EXPECT_TRUE(read_root_table(memory, 0xf000).is_error());
    put_rsdp(memory, 0xf000, 2, 0x2000, 0x4000);                 // XSDT address names the FACP
    EXPECT_TRUE(read_root_table(memory, 0xf000).is_error());
    put_rsdp(memory, 0xf000, 2, 0x2000, 0x3000);
    memory.bytes[0xf000 + 32] ^= 1;                              // extended checksum off
    EXPECT_TRUE(read_root_table(memory, 0xf000).is_error());
}

TEST(AcpiTables, RefusesHostileTableLengthsAndChecksums)
{
    FakeMemory memory = q35_like();
    auto root = read_root_table(memory, 0xf000).release_value();
    // MCFG claims to be 4 GiB long: refused before the checksum walk.
    memory.put_value<std::uint32_t>(0x5004, 0xffffffffu);
    EXPECT_TRUE(find_table(memory, root, "MCFG").is_error());
    // Shorter than a header.
    memory.put_value<std::uint32_t>(0x5004, 10);
    EXPECT_TRUE(find_table(memory, root, "MCFG").is_error());
    // Right length, wrong checksum.
    put_table(memory, 0x5000, "MCFG", mcfg_body(0xb0000000, 0, 0, 255));
    memory.bytes[0x5000 + 44] ^= 0x10;
    EXPECT_TRUE(find_table(memory, root, "MCFG").is_error());
    // An XSDT entry pointing outside memory is skipped, not followed.
    put_table(memory, 0x3000, "XSDT", pointers({0xffffffffffff0000ull, 0x4000}, 8));
    root = read_root_table(memory, 0xf000).release_value();
    EXPECT_TRUE(find_table(memory, root, "MCFG").is_error());
    EXPECT_FALSE(find_table(memory, root, "FACP").is_error());
}

TEST(AcpiTables, RootTableWithTooManyEntriesIsRefused)
{
    FakeMemory memory(0x10000);
    put_rsdp(memory, 0xf000, 2, 0, 0x3000);
    put_table(memory, 0x3000, "XSDT", std::vector<std::uint8_t>(8 * 300, 0));
    EXPECT_TRUE(read_root_table(memory, 0xf000).is_error());
}

TEST(AcpiMcfg, RefusesImpossibleWindows)
{
    EcamRegion regions[4];
    auto parse = [&](std::vector<std::uint8_t> body) {
        FakeMemory memory(0x1000);
        put_table(memory, 0, "MCFG", body);
        std::uint32_t length;
        std::memcpy(&length, memory.bytes.data() + 4, 4);
        return parse_mcfg(ByteView(memory.bytes.data(), length), regions, 4);
    };
    EXPECT_TRUE(parse(mcfg_body(0xb0000000, 0, 10, 9)).is_error());           // end before start
    EXPECT_TRUE(parse(mcfg_body(0xb0001000, 0, 0, 255)).is_error());          // not 1 MiB aligned
    EXPECT_TRUE(parse(mcfg_body(0, 0, 0, 255)).is_error());                   // no base
    EXPECT_TRUE(parse(mcfg_body(0xfffffffff0000000ull, 0, 0, 255)).is_error());  // wraps
    EXPECT_EQ(parse(std::vector<std::uint8_t>(8, 0)).value(), 0u);            // no entries
    auto partial = parse(std::vector<std::uint8_t>(8 + 15, 0));               // a partial entry is not one
    ASSERT_FALSE(partial.is_error());
    EXPECT_EQ(partial.value(), 0u);
    // A length beyond the bytes given.
    std::uint8_t short_table[44] = {'M', 'C', 'F', 'G', 200};
    EXPECT_TRUE(parse_mcfg(ByteView(short_table, sizeof short_table), regions, 4).is_error());
    EXPECT_TRUE(parse_mcfg(ByteView(short_table, 3), regions, 4).is_error());
}
