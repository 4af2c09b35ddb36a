// pvh_rsdp_test.cpp: read_boot_info keeps start_info's RSDP address (what PCI uses to find MCFG),
// and 0 (delos-vmm writes none) stays 0.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "abi/pvh.h"
#include "lib/pvh/boot_info.h"

using namespace delos;

namespace {

pvh::BootInfo read_with_rsdp(std::uint64_t rsdp)
{
    std::vector<std::uint8_t> memory(0x2000, 0);
    delos::abi::HvmStartInfo info{};
    info.magic = delos::abi::kHvmStartMagic;
    info.version = 1;
    info.memmap_paddr = 0x1000;
    info.memmap_entries = 1;
    info.rsdp_paddr = rsdp;
    std::memcpy(memory.data() + 0x100, &info, sizeof info);
    delos::abi::HvmMemmapEntry ram{0, 0x2000, delos::abi::kMemoryRam, 0};
    std::memcpy(memory.data() + 0x1000, &ram, sizeof ram);
    pvh::BootInfo out;
    auto read = pvh::read_boot_info(ByteView(memory.data(), memory.size()), 0x100, out);
    EXPECT_FALSE(read.is_error());
    return out;
}

} // namespace

TEST(PvhBootInfo, KeepsTheRsdpAddress)
{
    EXPECT_EQ(read_with_rsdp(0xf5a40).rsdp_address, 0xf5a40u);
    EXPECT_EQ(read_with_rsdp(0).rsdp_address, 0u);
}
