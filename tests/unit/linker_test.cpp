// linker_test.cpp: the namespace loads the real cells the build produces into host memory and
// links them exactly: dependencies pulled from the archive, relocated bytes, W^X regions,
// section-level dependency edges both ways, constructors/init/fini/destructors, and refusal
// to unload a cell that is still used.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <cstring>
#include <set>
#include <string>

#include "lib/elf/elf64.h"
#include "linker/cell_library.h"
#include "linker/describe.h"
#include "linker/namespace.h"
#include "linker/relocatable_object.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::link;
using namespace delos::host;

namespace {

std::int32_t read_rel32(std::uint64_t address)
{
    std::int32_t value;
    std::memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
    return value;
}

std::uint64_t read_u64(std::uint64_t address)
{
    std::uint64_t value;
    std::memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
    return value;
}

constexpr const char* kKvPut = "_ZN5delos2kv3putENS_10StringViewES1_";
constexpr const char* kKvAdd = "_ZN5delos2kv3addENS_10StringViewEl";
constexpr const char* kKvSize = "_ZN5delos2kv4sizeEv";
constexpr const char* kLogWrite = "_ZN5delos3log5writeENS0_5LevelENS_10StringViewES2_";

} // namespace

TEST_F(LinkerTest, LoadingCounterPullsInKvAndLogAndRunsTheirInitsInDependencyOrder)
{
    LoadedCell* counter = load("counter");
    ASSERT_NE(counter, nullptr);
    ASSERT_EQ(linker_namespace.cells().size(), 3u);
    EXPECT_NE(linker_namespace.find_cell("kv"), nullptr);
    EXPECT_NE(linker_namespace.find_cell("log"), nullptr);
    EXPECT_EQ(str(counter->version()), "0.3.1");

    // log first (everyone uses it), then kv, then counter; counter's constructor before its init.
    std::vector<std::string> expected = {"log:init", "kv:init", "counter:constructor", "counter:init"};
    EXPECT_EQ(invoker.calls, expected);
    EXPECT_EQ(HostKernel::serial_output,
              "[info ] log: ready\n"
              "[info ] kv: ready (up to 65536 entries)\n"
              "[info ] counter: boot #1\n"
              "[info ] counter: start #1\n"
              "[info ] counter: 2 events in the store\n");
}

TEST_F(LinkerTest, ACallFromCounterIntoKvPointsExactlyAtKvsFunction)
{
    ASSERT_NE(load("counter"), nullptr);
    LoadedCell* counter = linker_namespace.find_cell("counter");
    LoadedCell* kv = linker_namespace.find_cell("kv");

    // Where kv::add must be, computed independently from kv.o's own symbol table.
    Bytes kv_object = cell_bytes("kv");
    auto parsed = RelocatableObject::parse(view(kv_object));
    ASSERT_FALSE(parsed.is_error());
    std::uint64_t expected = 0;
    for (const ObjectSymbol& symbol : parsed->symbols()) {
        if (symbol.name == kKvAdd) {
            LoadedSection* section = kv->find_section(parsed->section(symbol.section).name);
            ASSERT_NE(section, nullptr);
            expected = section->address + symbol.value;
        }
    }
    ASSERT_NE(expected, 0u);
    EXPECT_EQ(symbol(kKvAdd), expected);

    // counter's call site: with -fno-plt it is `call *slot(%rip)` (GOTPCRELX); the rel32 reaches
    // the slot, and the slot holds kv::add's address.
    int call_sites = 0;
    for (const OwnPtr<LoadedSection>& section : counter->sections()) {
        for (const Dependency& dependency : section->uses) {
            if (dependency.symbol != kKvAdd)
                continue;
            ++call_sites;
            std::uint64_t place = section->address + dependency.relocation.offset;
            ASSERT_EQ(dependency.relocation.type, elf::R_X86_64_GOTPCRELX);
            ASSERT_TRUE(counter->got().contains(dependency.relocation.got_slot));
            EXPECT_EQ(static_cast<std::int64_t>(place) + read_rel32(place) - dependency.relocation.addend,
                      static_cast<std::int64_t>(dependency.relocation.got_slot));
            EXPECT_EQ(read_u64(dependency.relocation.got_slot), expected);
            EXPECT_EQ(dependency.provider_kind, ProviderKind::Section);
            EXPECT_EQ(dependency.provider->cell, kv);
            EXPECT_EQ(dependency.provider->address, expected);  // -ffunction-sections: kv::add starts its section
            EXPECT_EQ(dependency.symbol_address, expected);
        }
    }
    EXPECT_GE(call_sites, 1);
}

TEST_F(LinkerTest, EveryRelocationTypeIsAppliedExactlyAndTheCodeRunsThroughIt)
{
    Bytes probe = cell_bytes("reloc_probe");
    auto loaded = linker_namespace.load_object(view(probe), library);
    ASSERT_FALSE(loaded.is_error()) << loaded.error().message << ": " << str(linker_namespace.last_failure());
    LoadedCell* cell = loaded.value();
    EXPECT_EQ(str(cell->name()), "reloc_probe");
    EXPECT_NE(linker_namespace.find_cell("kv"), nullptr);  // pulled in for delos::kv::size

    std::uint64_t kv_size = symbol(kKvSize);
    std::uint64_t words = symbol("probe_words");
    std::uint64_t serial = kernel.address_of("_ZN5delos6serial5writeENS_10StringViewE");

    // R_X86_64_64 with an addend, R_X86_64_PC64, R_X86_64_64 to the kernel.
    EXPECT_EQ(read_u64(words), kv_size + 16);
    EXPECT_EQ(read_u64(words + 8), kv_size - (words + 8));
    EXPECT_EQ(read_u64(words + 16), serial);
    // R_X86_64_PLT32: `jmp rel32` lands on kv::size.
    std::uint64_t plt32 = symbol("probe_size_via_plt32");
    ASSERT_EQ(*reinterpret_cast<const std::uint8_t*>(plt32), 0xe9);
    EXPECT_EQ(plt32 + 5 + read_rel32(plt32 + 1), kv_size);
    // R_X86_64_32S (movq $imm32, %rax: 48 c7 c0) and R_X86_64_32 (movl $imm32, %eax: b8).
    EXPECT_EQ(static_cast<std::uint64_t>(read_rel32(symbol("probe_address_32s") + 3)), kv_size);
    EXPECT_EQ(static_cast<std::uint32_t>(read_rel32(symbol("probe_address_32") + 1)), kv_size);
    // Three GOT relocations of one symbol share one slot holding kv::size.
    ASSERT_EQ(cell->got().size, 8u);
    EXPECT_EQ(read_u64(cell->got().address), kv_size);

    // Now run the patched code: each probe returns what its relocation made it compute.
    using Probe = std::uint64_t (*)();
    using Put = ErrorOr<void> (*)(StringView, StringView);
    auto put = reinterpret_cast<Put>(symbol(kKvPut));
    ASSERT_FALSE(put("a", "1").is_error());
    ASSERT_FALSE(put("b", "2").is_error());
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_got_call"))(), 2u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_got_load"))(), 2u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_plain_gotpcrel"))(), 2u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_plt32"))(), 2u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_address_32s"))(), kv_size);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_address_32"))() & 0xffffffffu, kv_size);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_address_pc32"))(), words);

    // Each applied relocation is recorded with its type, place and provider.
    std::set<std::uint32_t> types;
    for (const OwnPtr<LoadedSection>& section : cell->sections()) {
        for (const Dependency& dependency : section->uses)
            types.insert(dependency.relocation.type);
    }
    for (std::uint32_t type : {elf::R_X86_64_64, elf::R_X86_64_PC64, elf::R_X86_64_PLT32, elf::R_X86_64_32S, elf::R_X86_64_32,
                               elf::R_X86_64_PC32, elf::R_X86_64_GOTPCREL, elf::R_X86_64_GOTPCRELX,
                               elf::R_X86_64_REX_GOTPCRELX})
        EXPECT_TRUE(types.count(type)) << "no recorded relocation of type " << type;
}

TEST_F(LinkerTest, CellRecordPointersAreRelocatedIntoTheCellsOwnCode)
{
    ASSERT_NE(load("kv"), nullptr);
    LoadedCell* kv = linker_namespace.find_cell("kv");
    LoadedSection* record = kv->find_section(".delos.cell");
    ASSERT_NE(record, nullptr);
    EXPECT_EQ(record->kind, SectionKind::ReadOnly);
    EXPECT_EQ(str(reinterpret_cast<const CellInfo*>(record->address)->name), "kv");
    std::uint64_t init = read_u64(record->address + offsetof(CellInfo, init));
    std::uint64_t fini = read_u64(record->address + offsetof(CellInfo, fini));
    EXPECT_EQ(init, kv->init_entry());
    EXPECT_EQ(fini, kv->fini_entry());
    LoadedSection* init_section = kv->section_at(init);
    ASSERT_NE(init_section, nullptr);
    EXPECT_EQ(init_section->kind, SectionKind::Text);
    EXPECT_NE(str(init_section->name).find("kv_init"), std::string::npos) << str(init_section->name);
    EXPECT_EQ(init_section->address, init);
}

TEST_F(LinkerTest, RegionsAreWXorXAndSectionsLandInTheRightOne)
{
    ASSERT_NE(load("counter"), nullptr);
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        SCOPED_TRACE(str(cell->name()));
        EXPECT_EQ(memory.permissions_of(cell->region(SectionKind::Text).address), Permissions::ReadExecute);
        EXPECT_EQ(memory.permissions_of(cell->region(SectionKind::ReadOnly).address), Permissions::ReadOnly);
        if (!cell->region(SectionKind::Data).empty())
            EXPECT_EQ(memory.permissions_of(cell->region(SectionKind::Data).address), Permissions::ReadWrite);
        bool has_eh_frame = false;
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            std::string name = str(section->name);
            SCOPED_TRACE(name);
            EXPECT_EQ(section->address % section->alignment, 0u);
            EXPECT_TRUE(cell->region(section->kind).contains(section->address) || section->size == 0);
            if (name.rfind(".text", 0) == 0)
                EXPECT_EQ(section->kind, SectionKind::Text);
            if (name.rfind(".eh_frame", 0) == 0 || name.rfind(".gcc_except_table", 0) == 0
                || name.rfind(".init_array", 0) == 0 || name.rfind(".fini_array", 0) == 0
                || name.rfind(".rodata", 0) == 0 || name == ".delos.cell")
                EXPECT_EQ(section->kind, SectionKind::ReadOnly);
            if ((name.rfind(".data", 0) == 0 && name.rfind(".data.rel.ro", 0) != 0) || name.rfind(".bss", 0) == 0)
                EXPECT_EQ(section->kind, SectionKind::Data);
            if (name == ".eh_frame") {
                has_eh_frame = true;
                EXPECT_FALSE(section->uses.empty()) << "unwind tables keep their relocations";
            }
        }
        EXPECT_TRUE(has_eh_frame);
    }
    // The GOT sits in the data region: writable, never executable (W^X), so re-pointing a slot
    // needs no permission change.
    LoadedCell* counter = linker_namespace.find_cell("counter");
    EXPECT_TRUE(counter->region(SectionKind::Data).contains(counter->got().address));
    EXPECT_EQ(memory.permissions_of(counter->region(SectionKind::Data).address), Permissions::ReadWrite);
}

TEST_F(LinkerTest, DependenciesAreKeptPerSectionInBothDirections)
{
    ASSERT_NE(load("counter"), nullptr);
    LoadedCell* counter = linker_namespace.find_cell("counter");
    LoadedCell* kv = linker_namespace.find_cell("kv");
    LoadedCell* log = linker_namespace.find_cell("log");
    auto names = [](const Vector<LoadedCell*>& cells) {
        std::set<std::string> out;
        for (LoadedCell* cell : cells)
            out.insert(str(cell->name()));
        return out;
    };
    EXPECT_EQ(names(counter->cells_used()), (std::set<std::string>{"kv", "log"}));
    EXPECT_EQ(names(counter->cells_using()), std::set<std::string>{});
    EXPECT_EQ(names(kv->cells_used()), std::set<std::string>{"log"});
    EXPECT_EQ(names(kv->cells_using()), std::set<std::string>{"counter"});
    EXPECT_EQ(names(log->cells_used()), std::set<std::string>{});
    EXPECT_EQ(names(log->cells_using()), (std::set<std::string>{"counter", "kv"}));

    // Every strong edge has its weak back-edge, pointing at the same relocation.
    std::size_t edges = 0;
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            for (std::uint32_t i = 0; i < section->uses.size(); ++i) {
                const Dependency& dependency = section->uses[i];
                if (dependency.provider_kind != ProviderKind::Section)
                    continue;
                ++edges;
                bool found = false;
                for (const Dependent& dependent : dependency.provider->used_by)
                    found |= dependent.user == section.get() && dependent.dependency == i;
                EXPECT_TRUE(found) << str(section->name) << " -> " << str(dependency.provider->name);
            }
            for (const Dependent& dependent : section->used_by)
                EXPECT_EQ(dependent.user->uses[dependent.dependency].provider, section.get());
        }
    }
    EXPECT_GT(edges, 100u);

    LoadedSection* add = kv->find_section(".text._ZN5delos2kv3addENS_10StringViewEl");
    ASSERT_NE(add, nullptr);
    bool used_by_counter = false;
    for (const Dependent& dependent : add->used_by)
        used_by_counter |= dependent.user->cell == counter && dependent.user->uses[dependent.dependency].symbol == kKvAdd;
    EXPECT_TRUE(used_by_counter);

    // Kernel imports are edges too, to the kernel.
    bool uses_serial = false;
    for (StringView name : log->kernel_symbols_used())
        uses_serial |= name == "_ZN5delos6serial5writeENS_10StringViewE";
    EXPECT_TRUE(uses_serial);
    EXPECT_EQ(linker_namespace.cell_at(add->address + 1), kv);
    EXPECT_EQ(linker_namespace.cell_at(kernel.address_of("strlen")), nullptr);
}

TEST_F(LinkerTest, WeakAndComdatCopiesStayPrivateToEachCell)
{
    ASSERT_NE(load("counter"), nullptr);
    // StringSink::write is an inline function every cell that formats carries in a COMDAT group.
    const char* inline_function = "_ZN5delos10StringSink5writeENS_10StringViewE";
    EXPECT_EQ(linker_namespace.find_symbol(inline_function), nullptr) << "COMDAT definitions are not exported";
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        int references = 0;
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            for (const Dependency& dependency : section->uses) {
                if (dependency.symbol == inline_function) {
                    ++references;
                    EXPECT_EQ(dependency.provider->cell, cell.get()) << str(cell->name()) << " binds to its own copy";
                }
            }
        }
        EXPECT_GT(references, 0) << str(cell->name());
    }
    // The hidden cell record is per cell too: never exported, so never a duplicate.
    EXPECT_EQ(linker_namespace.find_symbol("delos_cell_info"), nullptr);
    EXPECT_NE(linker_namespace.find_symbol(kKvPut), nullptr);
}

TEST_F(LinkerTest, UnloadIsRefusedWhileUsedAndRunsFiniAndDestructorsWhenAllowed)
{
    ASSERT_NE(load("counter"), nullptr);
    std::size_t symbols = linker_namespace.symbol_count();

    auto refused = linker_namespace.unload_cell("kv");
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(refused.error().code, ErrorCode::Busy);
    std::string why = str(linker_namespace.last_failure());
    EXPECT_NE(why.find("cell kv is still used by cell counter"), std::string::npos) << why;
    EXPECT_EQ(linker_namespace.cells().size(), 3u);
    EXPECT_EQ(linker_namespace.symbol_count(), symbols);
    EXPECT_EQ(linker_namespace.unload_cell("log").error().code, ErrorCode::Busy);
    EXPECT_EQ(linker_namespace.unload_cell("nothing").error().code, ErrorCode::NotFound);

    invoker.calls.clear();
    HostKernel::serial_output.clear();
    ASSERT_FALSE(linker_namespace.unload_cell("counter").is_error());
    EXPECT_EQ(linker_namespace.find_cell("counter"), nullptr);
    EXPECT_EQ(linker_namespace.find_symbol("_ZN5delos7counter5countENS_10StringViewE"), nullptr);
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            for (const Dependent& dependent : section->used_by)
                EXPECT_NE(str(dependent.user->cell->name()), "counter");
        }
    }
    EXPECT_EQ(linker_namespace.find_cell("kv")->cells_using().size(), 0u);

    ASSERT_FALSE(linker_namespace.unload_cell("kv").is_error());
    ASSERT_FALSE(linker_namespace.unload_cell("log").is_error());
    std::vector<std::string> expected = {"counter:fini", "counter:destructor", "kv:fini", "kv:destructor"};
    EXPECT_EQ(invoker.calls, expected);
    EXPECT_EQ(HostKernel::serial_output, "[info ] counter: stopping\n[info ] kv: stopping with 2 entries\n");
    expect_nothing_loaded();
}

TEST_F(LinkerTest, ACycleOfCellsLoadsTogetherAndUnloadsTogether)
{
    CellLibrary& cycle = library_of({"cycle_ping", "cycle_pong"});
    auto loaded = linker_namespace.load_cell("cycle_ping", cycle);
    ASSERT_FALSE(loaded.is_error()) << str(linker_namespace.last_failure());
    ASSERT_EQ(linker_namespace.cells().size(), 2u);
    auto ping = reinterpret_cast<int (*)(int)>(symbol("_ZN5delos5cycle4pingEi"));
    EXPECT_EQ(ping(3), 1 + 10 + 1);  // ping -> pong -> ping -> pong(0)
    EXPECT_EQ(linker_namespace.unload_cell("cycle_ping").error().code, ErrorCode::Busy);
    EXPECT_EQ(linker_namespace.unload_cell("cycle_pong").error().code, ErrorCode::Busy);
    ASSERT_FALSE(linker_namespace.unload_cells(Vector<StringView>{"cycle_ping", "cycle_pong"}).is_error());
    expect_nothing_loaded();
}

TEST_F(LinkerTest, APushedCellLinksAgainstWhatIsLoadedAndItsExitFunctionsRunAtUnload)
{
    ASSERT_NE(load("log"), nullptr);
    HostKernel::serial_output.clear();
    Bytes hello = cell_bytes("hello");
    auto loaded = linker_namespace.load_object(view(hello));  // no library: log is already there
    ASSERT_FALSE(loaded.is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(HostKernel::serial_output,
              "[info ] hello: greeting prepared\n[info ] hello: hello from a cell loaded at run time\n");
    // The function-local static's destructor came in through atexit() at init.
    EXPECT_EQ(loaded.value()->exit_functions().size(), 1u);
    EXPECT_EQ(linker_namespace.unload_cell("log").error().code, ErrorCode::Busy);

    HostKernel::serial_output.clear();
    invoker.calls.clear();
    ASSERT_FALSE(linker_namespace.unload_cell("hello").is_error());
    EXPECT_EQ(HostKernel::serial_output, "[info ] hello: goodbye\n");
    EXPECT_EQ(invoker.calls, std::vector<std::string>{"hello:exit function"});
}

TEST_F(LinkerTest, ExitFunctionsMustComeFromInsideALoadedCell)
{
    ASSERT_NE(load("kv"), nullptr);
    LoadedCell* kv = linker_namespace.find_cell("kv");
    auto fini = reinterpret_cast<void (*)()>(kv->fini_entry());
    EXPECT_EQ(linker_namespace.register_exit_function(0x1234, fini).error().code, ErrorCode::NotFound);
    EXPECT_EQ(linker_namespace.register_exit_function(symbol(kKvSize), reinterpret_cast<void (*)()>(0x1234)).error().code,
              ErrorCode::InvalidArgument);
    ASSERT_FALSE(linker_namespace.register_exit_function(symbol(kKvSize), fini).is_error());
    invoker.calls.clear();
    ASSERT_FALSE(linker_namespace.unload_cell("kv").is_error());
    std::vector<std::string> expected = {"kv:fini", "kv:exit function", "kv:destructor"};
    EXPECT_EQ(invoker.calls, expected);
}

TEST_F(LinkerTest, DescribesCellsForTheKernelToPrint)
{
    ASSERT_NE(load("counter"), nullptr);
    StringSink sink;
    describe_cells(linker_namespace, sink);
    std::string text = str(sink.string().view());
    EXPECT_NE(text.find("3 cells"), std::string::npos) << text;
    EXPECT_NE(text.find("counter          0.3.1"), std::string::npos) << text;
    EXPECT_NE(text.find("used by kv,counter"), std::string::npos) << text;

    StringSink one;
    describe_cell(*linker_namespace.find_cell("kv"), one);
    std::string kv_text = str(one.string().view());
    EXPECT_NE(kv_text.find("cell kv version 1.2.0"), std::string::npos) << kv_text;
    EXPECT_NE(kv_text.find("region text"), std::string::npos) << kv_text;
    EXPECT_NE(kv_text.find("r-x"), std::string::npos) << kv_text;
    EXPECT_NE(kv_text.find(".text._ZN5delos2kv3addENS_10StringViewEl (uses"), std::string::npos) << kv_text;
    EXPECT_NE(kv_text.find("used by cells: counter"), std::string::npos) << kv_text;
}

TEST_F(LinkerTest, ConstructorsRunInPriorityOrderAndDestructorsInReverse)
{
    CellLibrary& with_order = library_of({"log", "ctor_order"});
    ASSERT_NE(linker_namespace.load_cell("log", with_order).value(), nullptr);
    HostKernel::serial_output.clear();
    auto loaded = linker_namespace.load_cell("ctor_order", with_order);
    ASSERT_FALSE(loaded.is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(HostKernel::serial_output,
              "[info ] ctor_order: construct 101\n"
              "[info ] ctor_order: construct legacy-200\n"
              "[info ] ctor_order: construct attribute-250\n"
              "[info ] ctor_order: construct 300\n"
              "[info ] ctor_order: construct default\n");
    EXPECT_EQ(loaded.value()->constructors().size(), 5u);
    EXPECT_EQ(loaded.value()->destructors().size(), 3u);

    HostKernel::serial_output.clear();
    ASSERT_FALSE(linker_namespace.unload_cell("ctor_order").is_error());
    EXPECT_EQ(HostKernel::serial_output,
              "[info ] ctor_order: destroy default\n"
              "[info ] ctor_order: destroy 300\n"
              "[info ] ctor_order: destroy 101\n");
}
