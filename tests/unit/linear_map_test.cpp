// linear_map_test.cpp: the guest's linear map (guest/memory/page_table.cpp) built on the host over
// a fake 16 MiB of RAM, its tables in host memory: free frames are not present from boot, what
// the allocator holds is read-write, the kernel's sections have their rights, and giving pages
// rights and taking them away never makes a table for RAM (docs/memory.md). Not activated: CR3
// and invlpg are the guest's.
#include <gtest/gtest.h>

#include "fake_frame_allocator.h"
#include "memory/page_table.cpp"

// The linker script's symbols, which kernel_layout() reads in the guest (the host's C runtime
// already defines __data_start). The tests give their own layout.
extern "C" {
char __nano_core_text_start[1], __nano_core_text_end[1], __nano_core_data_start[1], __nano_core_data_end[1];
char __text_start[1], __text_end[1], __rodata_start[1], __rodata_end[1], __kernel_end[1];
}

namespace {

using namespace delos::memory;

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kRamEnd = 16 * kMiB;
constexpr std::uint64_t kKernelStart = 1 * kMiB, kKernelEnd = kMiB + 512 * 1024;
constexpr std::uint64_t kModuleStart = 8 * kMiB, kModuleEnd = 10 * kMiB;  // one whole 2 MiB region

// Low memory, the kernel and a boot module are reserved, the rest of RAM is free.
bool free_at_boot(std::uint64_t address)
{
    if (address < kKernelEnd || address >= kRamEnd)
        return false;
    return address < kModuleStart || address >= kModuleEnd;
}

KernelLayout layout()
{
    return {kKernelStart, kKernelStart + 0x1000, kKernelStart + 0x1000, kKernelStart + 0x2000,
            kKernelStart + 0x2000, kKernelStart + 0x12000, kKernelStart + 0x12000, kKernelStart + 0x22000,
            kKernelStart + 0x22000, kKernelEnd};
}

class LinearMap : public ::testing::Test {
protected:
    void SetUp() override
    {
        delos::test::set_free_frames(free_at_boot);
        ASSERT_FALSE(m_table.build_linear_map(kRamEnd, layout()).is_error());
    }
    void TearDown() override { delos::test::set_free_frames(nullptr); }

    PageTable m_table;
};

TEST_F(LinearMap, FreeFramesAreNotPresentFromBootAndTheRestHasItsRights)
{
    EXPECT_EQ(m_table.access_of(0), Access::None);
    EXPECT_EQ(m_table.access_of(0x1000), Access::ReadWrite);  // low memory: reserved
    EXPECT_EQ(m_table.access_of(kKernelStart), Access::ReadExecute);
    EXPECT_EQ(m_table.access_of(layout().text_start), Access::ReadExecute);
    EXPECT_EQ(m_table.access_of(layout().rodata_start), Access::Read);
    EXPECT_EQ(m_table.access_of(layout().data_end - 0x1000), Access::ReadWrite);
    EXPECT_EQ(m_table.access_of(kModuleStart), Access::ReadWrite);
    EXPECT_EQ(m_table.access_of(kModuleEnd - 0x1000), Access::ReadWrite);
    std::size_t mapped_free = 0;
    for (std::uint64_t address = 0; address < kRamEnd; address += kPageSize)
        mapped_free += free_at_boot(address) && m_table.access_of(address) != Access::None;
    EXPECT_EQ(mapped_free, 0u) << "free frames mapped at boot";
}

// Root, one PDPT, one PD and a 4 KiB table for each of the eight 2 MiB regions but the module's,
// which holds no free frame and stays one 2 MiB page.
TEST_F(LinearMap, EveryRegionWithAFreeFrameHasItsTableFromBoot)
{
    EXPECT_EQ(m_table.table_frames(), 3u + 7u);
}

TEST_F(LinearMap, TakingAndGivingBackRamMakesNoTable)
{
    std::size_t tables = m_table.table_frames();
    // Ranges across region boundaries, each right, then unmapped, as owners do.
    for (std::uint64_t start : {3 * kMiB - 0x2000, 2 * kMiB, 6 * kMiB - 0x1000, 11 * kMiB, kRamEnd - 0x3000}) {
        std::uint64_t size = start + 2 * kMiB + 0x4000 <= kRamEnd && start + 2 * kMiB + 0x4000 <= kModuleStart ? 2 * kMiB + 0x4000 : 0x3000;
        for (Access access : {Access::ReadWrite, Access::ReadExecute, Access::Read, Access::None}) {
            ASSERT_FALSE(m_table.set_access(start, size, access).is_error());
            EXPECT_EQ(m_table.access_of(start), access);
            EXPECT_EQ(m_table.access_of(start + size - kPageSize), access);
        }
        EXPECT_EQ(m_table.access_of(start - kPageSize) == Access::None, free_at_boot(start - kPageSize)) << std::hex << start;
    }
    EXPECT_EQ(m_table.table_frames(), tables);
}

// The one case that still makes a table after boot: new rights inside a 2 MiB page (a boot
// module's region). Nothing does that today; the test pins what would happen.
TEST_F(LinearMap, NewRightsInsideALargePageSplitIt)
{
    std::size_t tables = m_table.table_frames();
    ASSERT_FALSE(m_table.set_access(kModuleStart + 0x5000, kPageSize, Access::Read).is_error());
    EXPECT_EQ(m_table.table_frames(), tables + 1);
    EXPECT_EQ(m_table.access_of(kModuleStart + 0x5000), Access::Read);
    EXPECT_EQ(m_table.access_of(kModuleStart + 0x4000), Access::ReadWrite);
    EXPECT_EQ(m_table.access_of(kModuleStart + 0x6000), Access::ReadWrite);
}

} // namespace
