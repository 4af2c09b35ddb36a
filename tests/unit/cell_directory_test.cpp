// cell_directory_test.cpp: the cell manager's directory (numbers never reused, generations that
// count up per name, states through load and unload, code address -> cell) and the summaries it
// hands out instead of linker pointers, over the real cells of this build.
#include <gtest/gtest.h>

#include "lib/cells/cell_directory.h"
#include "lib/cells/cell_summary.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::cells;

namespace {

std::string name_of(const CellRecord& record) { return std::string(record.name.data(), record.name.size()); }

} // namespace

TEST(CellDirectory, EntriesOfALoadShareOneNumberUntilCommitted)
{
    CellDirectory directory;
    CellId kv = directory.id_for_entry("kv");
    EXPECT_NE(kv, kKernelCell);
    EXPECT_EQ(directory.id_for_entry("kv"), kv);  // its constructor, then its init
    CellId log = directory.id_for_entry("log");
    EXPECT_NE(log, kv);
    EXPECT_EQ(directory.find("kv")->state, CellState::Loading);
    // Not committed: no address belongs to it yet.
    EXPECT_EQ(directory.cell_at(0x1000), kKernelCell);

    EXPECT_EQ(directory.commit("kv", CodeRange{0x10000, 0x2000}), kv);
    EXPECT_EQ(directory.commit("log", CodeRange{0x20000, 0x1000}), log);
    EXPECT_EQ(directory.find("kv")->state, CellState::Live);
    EXPECT_EQ(directory.find("kv")->generation, 1u);
    EXPECT_EQ(directory.cell_at(0x10000), kv);
    EXPECT_EQ(directory.cell_at(0x11fff), kv);
    EXPECT_EQ(directory.cell_at(0x12000), kKernelCell);
    EXPECT_EQ(directory.cell_at(0x20800), log);
    EXPECT_EQ(directory.find(log)->name, StringView("log"));
}

TEST(CellDirectory, ACellWithoutEntriesGetsANumberAtCommit)
{
    CellDirectory directory;
    CellId quiet = directory.commit("quiet", CodeRange{0x5000, 0x1000});
    EXPECT_NE(quiet, kKernelCell);
    EXPECT_EQ(directory.cell_at(0x5000), quiet);
    EXPECT_EQ(directory.generations_of("quiet"), 1u);
}

TEST(CellDirectory, AFailedLoadLeavesNothingAndCountsNoGeneration)
{
    CellDirectory directory;
    CellId first = directory.id_for_entry("init_fails");
    directory.abandon_loading();
    EXPECT_EQ(directory.find("init_fails"), nullptr);
    EXPECT_EQ(directory.generations_of("init_fails"), 0u);
    CellId second = directory.id_for_entry("init_fails");
    EXPECT_NE(second, first);  // numbers are never reused
}

TEST(CellDirectory, UnloadAndReloadCountGenerationsWithNewNumbers)
{
    CellDirectory directory;
    CellId first = directory.commit("hello", CodeRange{0x9000, 0x1000});
    // Refused unload: back to live.
    EXPECT_TRUE(directory.begin_unload("hello"));
    EXPECT_EQ(directory.find("hello")->state, CellState::Unloading);
    EXPECT_EQ(directory.id_for_entry("hello"), first);  // its fini runs under its number
    EXPECT_EQ(directory.cell_at(0x9000), first);        // ...and what fini spawns belongs to it
    directory.cancel_unload("hello");
    EXPECT_EQ(directory.find("hello")->state, CellState::Live);
    // Unloaded for real, then loaded again.
    EXPECT_TRUE(directory.begin_unload("hello"));
    directory.finish_unload("hello");
    EXPECT_EQ(directory.find("hello"), nullptr);
    EXPECT_EQ(directory.cell_at(0x9000), kKernelCell);
    EXPECT_FALSE(directory.begin_unload("hello"));
    CellId second = directory.commit("hello", CodeRange{0x9000, 0x1000});
    EXPECT_NE(second, first);
    EXPECT_EQ(directory.find("hello")->generation, 2u);
    EXPECT_EQ(directory.generations_of("hello"), 2u);
    EXPECT_EQ(directory.records().size(), 1u);
    EXPECT_EQ(name_of(directory.records()[0]), "hello");
}

TEST(CellDirectory, StateNames)
{
    EXPECT_STREQ(cell_state_name(CellState::Loading), "loading");
    EXPECT_STREQ(cell_state_name(CellState::Live), "live");
    EXPECT_STREQ(cell_state_name(CellState::Unloading), "unloading");
}

namespace delos::host {

TEST_F(LinkerTest, SummariesCopyNamesDependenciesAndSectionsOutOfTheNamespace)
{
    link::LoadedCell* counter = load("counter");
    ASSERT_NE(counter, nullptr);
    CellDirectory directory;
    for (const OwnPtr<link::LoadedCell>& cell : linker_namespace.cells()) {
        link::Region text = cell->region(link::SectionKind::Text);
        directory.commit(cell->name(), CodeRange{text.address, text.size});
    }
    const CellRecord* record = directory.find("counter");
    ASSERT_NE(record, nullptr);
    // Any address in counter's code maps to it, as a task's entry or a fault would.
    EXPECT_EQ(directory.cell_at(counter->region(link::SectionKind::Text).address + 1), record->id);

    CellSummary summary = summarize_cell(*counter, record, true);
    EXPECT_EQ(str(summary.name.view()), "counter");
    EXPECT_EQ(str(summary.version.view()), str(counter->version()));
    EXPECT_EQ(summary.id, record->id);
    EXPECT_EQ(summary.generation, 1u);
    EXPECT_EQ(summary.state, CellState::Live);
    EXPECT_EQ(summary.section_count, counter->sections().size());
    ASSERT_EQ(summary.sections.size(), counter->sections().size());
    EXPECT_EQ(summary.sections[0].address, counter->sections()[0]->address);
    EXPECT_EQ(summary.text_bytes, counter->region(link::SectionKind::Text).size);
    EXPECT_EQ(summary.object_bytes, counter->object().bytes.size());
    EXPECT_GT(summary.object_bytes, summary.text_bytes);  // the object holds the code and more
    std::vector<std::string> dependencies;
    for (const String& name : summary.dependencies)
        dependencies.push_back(str(name.view()));
    EXPECT_NE(std::find(dependencies.begin(), dependencies.end(), "kv"), dependencies.end());
    EXPECT_NE(std::find(dependencies.begin(), dependencies.end(), "log"), dependencies.end());

    CellSummary kv = summarize_cell(*linker_namespace.find_cell("kv"), directory.find("kv"), false);
    ASSERT_EQ(kv.dependents.size(), 1u);
    EXPECT_EQ(str(kv.dependents[0].view()), "counter");
    EXPECT_TRUE(kv.sections.empty());  // only when asked for
    CellSummary unknown = summarize_cell(*counter, nullptr, false);
    EXPECT_EQ(unknown.id, kKernelCell);
    EXPECT_EQ(unknown.generation, 0u);
}

} // namespace delos::host
