// cell_unwind_tables_test.cpp: the boot cells' unwind tables as the guest registers them: linked
// by the cell linker into low memory (the host stand-ins of linker_test_host.h), each cell's
// relocated .eh_frame must index with every FDE inside the cell's text region, the kernel's
// __gxx_personality_v0 as its personality, rows computable at every address, and every LSDA
// inside the cell's read-only region with its call sites and landing pads inside its function
// (what guest/runtime/frame_tables.cpp and the unwinder check before trusting a cell's tables).
#include <gtest/gtest.h>

#include "lib/unwind/cfi.h"
#include "lib/unwind/eh_frame.h"
#include "lib/unwind/lsda.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::link;
using namespace delos::host;
using namespace delos::unwind;

namespace {
class CellUnwindTablesTest : public LinkerTest {};
} // namespace

TEST_F(CellUnwindTablesTest, RelocatedTablesOfTheBootCellsStayInsideTheirCells)
{
    ASSERT_NE(load("counter"), nullptr);  // and kv and log, which it needs
    std::uint64_t personality = kernel.address_of("__gxx_personality_v0");
    std::size_t cells = 0, fdes = 0, lsdas = 0, landing_pads = 0;
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        LoadedSection* eh_frame = cell->find_section(".eh_frame");
        ASSERT_NE(eh_frame, nullptr) << str(cell->name());
        ++cells;
        Region text = cell->region(SectionKind::Text);
        Region read_only = cell->region(SectionKind::ReadOnly);
        EXPECT_TRUE(read_only.contains(eh_frame->address));
        auto index = EhFrameIndex::build(ByteView(reinterpret_cast<const void*>(eh_frame->address), eh_frame->size),
                                         eh_frame->address);
        ASSERT_FALSE(index.is_error()) << str(cell->name()) << ": " << index.error().message;
        for (const auto& entry : index.value().entries()) {
            EXPECT_TRUE(text.contains(entry.pc_begin) && entry.pc_end <= text.address + text.size) << str(cell->name());
            auto fde = index.value().find(entry.pc_begin).release_value();
            ++fdes;
            for (std::uint64_t pc = fde.pc_begin; pc < fde.pc_end; ++pc)
                ASSERT_FALSE(compute_row(fde, pc).is_error()) << str(cell->name());
            if (fde.cie.personality) {
                EXPECT_FALSE(fde.cie.personality_indirect);
                EXPECT_EQ(fde.cie.personality, personality);
            }
            if (!fde.lsda)
                continue;
            ++lsdas;
            ASSERT_TRUE(read_only.contains(fde.lsda)) << str(cell->name());
            ByteView lsda(reinterpret_cast<const void*>(fde.lsda), read_only.address + read_only.size - fde.lsda);
            auto walked = for_each_call_site(lsda, fde.lsda, fde.pc_begin, [&](const CallSiteEntry& site) {
                EXPECT_GE(site.start, fde.pc_begin);
                EXPECT_LE(site.end, fde.pc_end);
                if (site.landing_pad) {
                    ++landing_pads;
                    EXPECT_TRUE(fde.contains(site.landing_pad));
                }
            });
            ASSERT_FALSE(walked.is_error()) << str(cell->name()) << ": " << walked.error().message;
        }
    }
    EXPECT_EQ(cells, 3u);
    EXPECT_GT(fdes, 20u);
    EXPECT_GT(lsdas, 3u);
    EXPECT_GT(landing_pads, 3u);
}
