// swap_test.cpp: live evolution in the freestanding linker, on the real cells of this build in
// host memory: a swap re-points every relocation type of every dependent to the new version,
// hands state over (kv keeps every entry), swaps cells in a cycle and several cells at once,
// keeps old versions retiring while something refers to them, rolls back, and every refusal
// leaves the namespace byte-for-byte as it was (an introspection dump plus every region's bytes)
// with no section memory left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "lib/crypto/sha256.h"
#include "lib/elf/elf64.h"
#include "linker/describe.h"
#include "linker/namespace.h"
#include "linker_test_host.h"
#include "counted_heap.h"


using namespace delos;
using namespace delos::link;
using namespace delos::host;

namespace {

constexpr const char* kKvPut = "_ZN5delos2kv3putENS_10StringViewES1_";
constexpr const char* kKvGet = "_ZN5delos2kv3getENS_10StringViewE";
constexpr const char* kKvAdd = "_ZN5delos2kv3addENS_10StringViewEl";
constexpr const char* kKvSize = "_ZN5delos2kv4sizeEv";
constexpr const char* kKvWrites = "_ZN5delos2kv6writesENS_10StringViewE";
constexpr const char* kKvBorrowBanner = "_ZN5delos2kv13borrow_bannerEv";
constexpr const char* kKvReturnBanner = "_ZN5delos2kv13return_bannerEv";
constexpr const char* kCounterCount = "_ZN5delos7counter5countENS_10StringViewE";
constexpr const char* kCounterValue = "_ZN5delos7counter5valueENS_10StringViewE";
constexpr const char* kCounterWritesOf = "_ZN5delos7counter9writes_ofENS_10StringViewE";
constexpr const char* kCountMany = "_ZN5delos11swap_caller10count_manyENS_10StringViewEm";

using Put = ErrorOr<void> (*)(StringView, StringView);
using Get = ErrorOr<String> (*)(StringView);
using Count = ErrorOr<std::int64_t> (*)(StringView);
using CountMany = std::uint64_t (*)(StringView, std::uint64_t);

std::uint64_t read_u64(std::uint64_t address)
{
    std::uint64_t value;
    std::memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
    return value;
}

std::int32_t read_rel32(std::uint64_t address)
{
    std::int32_t value;
    std::memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
    return value;
}

std::uint64_t steady_ns()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// A task inspector a test scripts: which regions "a task" refers to, and whether stopping fails.
class ScriptedInspector final : public TaskInspector {
public:
    ErrorOr<void> stop_others(const Vector<Region>& regions) override
    {
        ++stops;
        for (const Region& region : regions) {
            if (refers_to(region))
                return Error::make(ErrorCode::Busy, "test: a task is inside the cell");
        }
        stopped = true;
        return {};
    }
    void resume_others() override { stopped = false; }
    bool is_referenced(const Vector<Region>& regions) override
    {
        for (const Region& region : regions) {
            if (refers_to(region))
                return true;
        }
        return false;
    }
    bool refers_to(const Region& region) const
    {
        for (std::uint64_t address : held_addresses) {
            if (region.contains(address))
                return true;
        }
        return false;
    }

    std::vector<std::uint64_t> held_addresses;  // "on some task's stack"
    int stops = 0;
    bool stopped = false;
};

class SwapTest : public LinkerTest {
protected:
    void SetUp() override
    {
        LinkerTest::SetUp();
        linker_namespace.set_clock(&steady_ns);
    }

    Bytes version(const std::string& object) { return cell_bytes(object); }

    ErrorOr<SwapReport> swap(std::vector<std::pair<std::string, std::string>> pairs)
    {
        kept.clear();
        Vector<SwapPair> request;
        for (const auto& [cell, object] : pairs) {
            kept.push_back(cell_bytes(object));
            EXPECT_FALSE(kept.back().empty()) << object << ".o missing: build the cells target";
        }
        for (std::size_t i = 0; i < pairs.size(); ++i)
            request.append(SwapPair{StringView(pairs[i].first.data(), pairs[i].first.size()), view(kept[i])});
        return linker_namespace.swap_cells(request, library);
    }

    SwapReport swap_ok(std::vector<std::pair<std::string, std::string>> pairs)
    {
        auto swapped = swap(std::move(pairs));
        EXPECT_FALSE(swapped.is_error()) << (swapped.is_error() ? swapped.error().message : "") << ": "
                                         << str(linker_namespace.last_failure());
        return swapped.is_error() ? SwapReport() : swapped.release_value();
    }

    template <typename F>
    F function(const char* name)
    {
        return reinterpret_cast<F>(symbol(name));
    }

    // Everything a refused swap must leave unchanged: the introspection dump, every symbol the
    // cells export with its address, every dependency edge both ways, the retiring list, the
    // section memory, and (with `with_data`) every byte of every region.
    std::string dump(bool with_data = true)
    {
        StringSink sink;
        describe_cells(linker_namespace, sink);
        for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
            describe_cell(*cell, sink);
            format_to(sink, "generation {} previous {}\n", cell->generation(), linker_namespace.has_previous_generation(cell->name()));
            for (const String& name : cell->exports())
                format_to(sink, "export {} {:#x}\n", name, linker_namespace.find_symbol(name.view())->address);
            for (const OwnPtr<LoadedSection>& section : cell->sections()) {
                for (const Dependency& dependency : section->uses)
                    format_to(sink, "use {} {:#x} {} {:#x} {:#x}\n", section->name, dependency.relocation.offset, dependency.relocation.type,
                              dependency.symbol_address, dependency.provider ? dependency.provider->address : 0);
                for (const Dependent& dependent : section->used_by)
                    format_to(sink, "used_by {} {} {}\n", section->name, dependent.user->name, dependent.dependency);
            }
            for (SectionKind kind : {SectionKind::Text, SectionKind::ReadOnly, SectionKind::Data}) {
                Region region = cell->region(kind);
                if (region.empty() || (!with_data && kind == SectionKind::Data))
                    continue;
                format_to(sink, "bytes {} {}:", cell->name(), section_kind_name(kind));
                sink.write(StringView(reinterpret_cast<const char*>(region.bytes()), region.size));
                sink.write("\n");
            }
        }
        format_to(sink, "retiring {} symbols {} regions {} bytes {}\n", linker_namespace.retiring_cells().size(),
                  linker_namespace.symbol_count(), memory.live_regions(), memory.live_bytes);
        return str(sink.string().view());
    }

    std::deque<Bytes> kept;
};

// Every section of every live cell uses only live cells, and every back-edge matches its edge.
void expect_consistent_edges(const Namespace& ns)
{
    std::set<const LoadedCell*> live;
    for (const OwnPtr<LoadedCell>& cell : ns.cells())
        live.insert(cell.get());
    for (const OwnPtr<LoadedCell>& cell : ns.cells()) {
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            for (std::uint32_t i = 0; i < section->uses.size(); ++i) {
                const Dependency& dependency = section->uses[i];
                if (dependency.provider_kind != ProviderKind::Section)
                    continue;
                EXPECT_TRUE(live.count(dependency.provider->cell)) << str(cell->name()) << " " << str(section->name) << " uses a retired cell";
                bool back = false;
                for (const Dependent& dependent : dependency.provider->used_by)
                    back |= dependent.user == section.get() && dependent.dependency == i;
                EXPECT_TRUE(back) << str(section->name) << " has no back-edge";
            }
            for (const Dependent& dependent : section->used_by)
                EXPECT_EQ(dependent.user->uses[dependent.dependency].provider, section.get());
        }
    }
}

} // namespace

TEST_F(SwapTest, KvSwapsToVersion2KeepingEveryEntryAndCounterFollows)
{
    ASSERT_NE(load("counter"), nullptr);
    auto put = function<Put>(kKvPut);
    ASSERT_FALSE(put("alpha", "1").is_error());
    ASSERT_FALSE(put("beta", "2").is_error());
    auto count = function<Count>(kCounterCount);
    ASSERT_EQ(count("swap").value(), 1);
    LoadedCell* old_kv = linker_namespace.find_cell("kv");
    std::uint64_t old_add = symbol(kKvAdd);
    std::size_t regions_before = memory.live_regions();

    SwapReport report = swap_ok({{"kv", "kv.v2"}});
    // counter reaches kv only through its GOT (-fno-plt), which lives in its data region: the
    // re-point changes no permission at all (no page-table write, no TLB flush in the guest).
    EXPECT_GT(report.relocations_repointed, 0u);
    EXPECT_EQ(report.repoint_permission_changes, 0u);
    ASSERT_EQ(report.cells.size(), 1u);
    EXPECT_EQ(str(report.cells[0].name.view()), "kv");
    EXPECT_EQ(str(report.cells[0].old_version.view()), "1.2.0");
    EXPECT_EQ(str(report.cells[0].new_version.view()), "2.0.0");
    EXPECT_EQ(report.cells[0].old_generation, 1u);
    EXPECT_EQ(report.cells[0].new_generation, 2u);
    EXPECT_EQ(str(report.cells[0].state_layout.view()), "kv.entries/1");
    EXPECT_GT(report.relocations_repointed, 0u);
    EXPECT_GT(report.total_ns, 0u);
    EXPECT_EQ(report.retired_released, 1u);  // nothing refers to the old kv: released at once

    LoadedCell* kv = linker_namespace.find_cell("kv");
    ASSERT_NE(kv, nullptr);
    EXPECT_NE(kv, old_kv);
    EXPECT_EQ(str(kv->version()), "2.0.0");
    EXPECT_EQ(kv->generation(), 2u);
    EXPECT_TRUE(linker_namespace.has_previous_generation("kv"));
    EXPECT_NE(symbol(kKvAdd), old_add);
    EXPECT_TRUE(kv->contains(symbol(kKvAdd)));
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);
    EXPECT_EQ(memory.live_regions(), regions_before);  // old regions went back, new ones came

    // Every entry arrived; counter's calls now reach kv 2.0.0 (which counts writes).
    auto get = function<Get>(kKvGet);
    EXPECT_EQ(str(get("alpha").value().view()), "1");
    EXPECT_EQ(str(get("beta").value().view()), "2");
    EXPECT_EQ(count("swap").value(), 2);
    auto writes = function<std::uint64_t (*)(StringView)>(kKvWrites);
    EXPECT_EQ(writes("counter/swap"), 2u);  // 1 for arriving, 1 for the count after the swap

    // counter's GOT slot for kv::add holds the new address, and its edges lead to the new kv.
    LoadedCell* counter = linker_namespace.find_cell("counter");
    int slots = 0;
    for (const OwnPtr<LoadedSection>& section : counter->sections()) {
        for (const Dependency& dependency : section->uses) {
            if (dependency.symbol != kKvAdd)
                continue;
            ++slots;
            EXPECT_EQ(read_u64(dependency.relocation.got_slot), symbol(kKvAdd));
            EXPECT_EQ(dependency.provider->cell, kv);
            EXPECT_EQ(dependency.symbol_address, symbol(kKvAdd));
        }
    }
    EXPECT_GE(slots, 1);
    EXPECT_EQ(memory.permissions_of(counter->region(SectionKind::ReadOnly).address), Permissions::ReadOnly);
    EXPECT_EQ(memory.permissions_of(counter->region(SectionKind::Text).address), Permissions::ReadExecute);
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, EveryRelocationTypeOfADependentIsRepointedAndTheCodeRunsThroughIt)
{
    Bytes probe = cell_bytes("reloc_probe");
    ASSERT_FALSE(linker_namespace.load_object(view(probe), library).is_error()) << str(linker_namespace.last_failure());
    std::uint64_t old_size = symbol(kKvSize);
    std::uint64_t words = symbol("probe_words");
    LoadedCell* cell = linker_namespace.find_cell("reloc_probe");

    std::uint64_t protections_before = memory.protections;
    SwapReport report = swap_ok({{"kv", "kv.v2"}});
    std::uint64_t kv_size = symbol(kKvSize);
    // Direct references in reloc_probe's text (PLT32, 32S, 32): its text region is opened (RW,
    // never RWX) and closed again, two changes; probe_words (.data) and the GOT slots (data
    // region) need none, and counter (GOT only) none either.
    EXPECT_EQ(report.repoint_permission_changes, 2u);
    EXPECT_LE(report.repoint_permission_changes, memory.protections - protections_before);
    EXPECT_EQ(memory.permissions_of(cell->region(SectionKind::Text).address), Permissions::ReadExecute);
    EXPECT_EQ(memory.permissions_of(cell->region(SectionKind::ReadOnly).address), Permissions::ReadOnly);
    ASSERT_NE(kv_size, old_size);

    // R_X86_64_64 (+16), R_X86_64_PC64 into the new kv; the kernel word is untouched.
    EXPECT_EQ(read_u64(words), kv_size + 16);
    EXPECT_EQ(read_u64(words + 8), kv_size - (words + 8));
    EXPECT_EQ(read_u64(words + 16), kernel.address_of("_ZN5delos6serial5writeENS_10StringViewE"));
    // R_X86_64_PLT32, R_X86_64_32S, R_X86_64_32 rewritten in the text; the GOT slot (GOTPCREL,
    // GOTPCRELX, REX_GOTPCRELX share it) holds the new address.
    std::uint64_t plt32 = symbol("probe_size_via_plt32");
    EXPECT_EQ(plt32 + 5 + read_rel32(plt32 + 1), kv_size);
    EXPECT_EQ(static_cast<std::uint64_t>(read_rel32(symbol("probe_address_32s") + 3)), kv_size);
    EXPECT_EQ(static_cast<std::uint32_t>(read_rel32(symbol("probe_address_32") + 1)), kv_size);
    EXPECT_EQ(read_u64(cell->got().address), kv_size);

    auto put = function<Put>(kKvPut);
    ASSERT_FALSE(put("a", "1").is_error());
    ASSERT_FALSE(put("b", "2").is_error());
    ASSERT_FALSE(put("c", "3").is_error());
    using Probe = std::uint64_t (*)();
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_got_call"))(), 3u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_got_load"))(), 3u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_plain_gotpcrel"))(), 3u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_size_via_plt32"))(), 3u);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_address_32s"))(), kv_size);
    EXPECT_EQ(reinterpret_cast<Probe>(symbol("probe_address_32"))() & 0xffffffffu, kv_size);

    // Every recorded edge of the probe into kv names the new kv and the new address.
    std::set<std::uint32_t> types;
    for (const OwnPtr<LoadedSection>& section : cell->sections()) {
        for (const Dependency& dependency : section->uses) {
            if (dependency.symbol != kKvSize)
                continue;
            types.insert(dependency.relocation.type);
            EXPECT_EQ(dependency.provider->cell, linker_namespace.find_cell("kv"));
            EXPECT_EQ(dependency.symbol_address, kv_size);
        }
    }
    for (std::uint32_t type : {elf::R_X86_64_64, elf::R_X86_64_PC64, elf::R_X86_64_PLT32, elf::R_X86_64_32S, elf::R_X86_64_32,
                               elf::R_X86_64_GOTPCREL, elf::R_X86_64_GOTPCRELX, elf::R_X86_64_REX_GOTPCRELX})
        EXPECT_TRUE(types.count(type)) << "no re-pointed relocation of type " << type;
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, RefusalsLeaveTheNamespaceByteForByteAsItWas)
{
    ASSERT_NE(load("counter"), nullptr);
    ASSERT_FALSE(function<Put>(kKvPut)("kept", "yes").is_error());
    const std::string before = dump();
    struct Case {
        std::vector<std::pair<std::string, std::string>> pairs;
        ErrorCode code;
        std::vector<std::string> named;  // what last_failure() must mention
    };
    const std::vector<Case> cases = {
        {{{"kv", "kv.badlayout"}}, ErrorCode::Unsupported, {"kv.entries/9", "kv.entries/1", "nothing changed"}},
        {{{"kv", "kv.missing"}}, ErrorCode::NotFound, {kKvAdd, "used by cell counter", "nothing changed"}},
        {{{"counter", "counter.v2"}}, ErrorCode::NotFound, {kKvWrites}},   // needs kv 2.x
        {{{"kv", "hello"}}, ErrorCode::Malformed, {"declares itself as hello"}},
        {{{"nothere", "kv.v2"}}, ErrorCode::NotFound, {"nothere"}},
        {{{"kv", "kv.v2"}, {"kv", "kv.v2"}}, ErrorCode::InvalidArgument, {"twice"}},
        {{{"log", "kv.v2"}}, ErrorCode::Malformed, {"declares itself as kv"}},
    };
    // Twice: on the second pass no refusal may keep a single heap allocation either (the
    // failure text and the objects the test holds reuse what the first pass made).
    for (int pass = 0; pass < 2; ++pass) {
        long live = delos::test::live_allocations();
        for (const Case& c : cases) {
            SCOPED_TRACE(c.pairs[0].second);
            auto refused = swap(c.pairs);
            ASSERT_TRUE(refused.is_error());
            EXPECT_EQ(refused.error().code, c.code) << refused.error().message << ": " << str(linker_namespace.last_failure());
            for (const std::string& name : c.named)
                EXPECT_NE(str(linker_namespace.last_failure()).find(name), std::string::npos) << str(linker_namespace.last_failure());
            EXPECT_EQ(dump(), before);
        }
        kept.clear();
        if (pass == 1)
            EXPECT_EQ(delos::test::live_allocations(), live);
    }
    // The swap still works afterwards, and the dump sees what it changed.
    swap_ok({{"kv", "kv.v2"}});
    EXPECT_EQ(str(function<Get>(kKvGet)("kept").value().view()), "yes");
    EXPECT_NE(dump(), before);
}

TEST_F(SwapTest, RunningOutOfMemoryOrPermissionsAtAnyStepLeavesNothing)
{
    ASSERT_NE(load("counter"), nullptr);
    const std::string before = dump();
    // Fail each allocation of the swap in turn, until one succeeds.
    bool succeeded = false;
    for (std::uint64_t fail_at = 1; fail_at < 40 && !succeeded; ++fail_at) {
        SCOPED_TRACE(fail_at);
        memory.allocations = 0;
        memory.fail_allocation_number = fail_at;
        auto result = swap({{"kv", "kv.v2"}});
        memory.fail_allocation_number = 0;
        if (!result.is_error()) {
            succeeded = true;
            break;
        }
        EXPECT_EQ(result.error().code, ErrorCode::OutOfMemory);
        EXPECT_EQ(dump(), before);
    }
    EXPECT_TRUE(succeeded);

    const std::string after_first = dump();
    memory.fail_protect = true;
    auto refused = swap({{"kv", "kv"}});  // back to 1.x, but no region may change permissions
    memory.fail_protect = false;
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(dump(), after_first);
}

TEST_F(SwapTest, AFailingInitOrAdoptionRollsBackAndTheStateStaysWithTheOldVersion)
{
    ASSERT_NE(load("counter"), nullptr);
    auto put = function<Put>(kKvPut);
    auto get = function<Get>(kKvGet);
    ASSERT_FALSE(put("kv.v2.refuse-init", "x").is_error());
    ASSERT_FALSE(put("keep", "me").is_error());
    // The log cell counts the lines the failing version wrote, so data bytes are left out here.
    const std::string before = dump(false);

    auto refused = swap({{"kv", "kv.v2"}});
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(refused.error().code, ErrorCode::InvalidArgument);
    std::string why = str(linker_namespace.last_failure());
    EXPECT_NE(why.find("init of version 2.0.0 failed"), std::string::npos) << why;
    EXPECT_NE(why.find("refuses to start"), std::string::npos) << why;
    EXPECT_NE(why.find("rolled back"), std::string::npos) << why;
    EXPECT_EQ(dump(false), before);
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->version()), "1.2.0");
    EXPECT_EQ(str(get("keep").value().view()), "me");  // the store came back to 1.2.0
    // kv 2.0.0 constructed and got the state, then gave it back: its destructors ran.
    EXPECT_EQ(invoker.calls.back(), "kv:destructor");

    ASSERT_TRUE(function<bool (*)(StringView)>("_ZN5delos2kv5eraseENS_10StringViewE")("kv.v2.refuse-init"));
    ASSERT_FALSE(put("kv.v2.refuse-adopt", "x").is_error());
    const std::string before_adopt = dump(false);
    refused = swap({{"kv", "kv.v2"}});
    ASSERT_TRUE(refused.is_error());
    why = str(linker_namespace.last_failure());
    EXPECT_NE(why.find("could not adopt"), std::string::npos) << why;
    EXPECT_EQ(dump(false), before_adopt);
    EXPECT_EQ(str(get("keep").value().view()), "me");
    EXPECT_EQ(str(get("kv.v2.refuse-adopt").value().view()), "x");
}

TEST_F(SwapTest, RollbackSwapsBackWithTheStateAndGenerationsCountUp)
{
    ASSERT_NE(load("counter"), nullptr);
    auto rollback_without_history = linker_namespace.rollback_cell("counter");
    ASSERT_TRUE(rollback_without_history.is_error());
    EXPECT_EQ(rollback_without_history.error().code, ErrorCode::NotFound);

    ASSERT_EQ(function<Count>(kCounterCount)("r").value(), 1);
    swap_ok({{"kv", "kv.v2"}});
    ASSERT_EQ(function<Count>(kCounterCount)("r").value(), 2);

    auto back = linker_namespace.rollback_cell("kv");
    ASSERT_FALSE(back.is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(str(back.value().cells[0].new_version.view()), "1.2.0");
    EXPECT_EQ(back.value().cells[0].new_generation, 3u);
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->version()), "1.2.0");
    EXPECT_EQ(linker_namespace.find_symbol(kKvWrites), nullptr);
    EXPECT_EQ(function<Count>(kCounterCount)("r").value(), 3);

    auto again = linker_namespace.rollback_cell("kv");
    ASSERT_FALSE(again.is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->version()), "2.0.0");
    EXPECT_EQ(linker_namespace.find_cell("kv")->generation(), 4u);
    EXPECT_EQ(function<Count>(kCounterCount)("r").value(), 4);
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, SeveralCellsSwapTogetherAcrossAnInterfaceChange)
{
    ASSERT_NE(load("counter"), nullptr);
    ASSERT_EQ(function<Count>(kCounterCount)("both").value(), 1);
    SwapReport report = swap_ok({{"kv", "kv.v2"}, {"counter", "counter.v2"}});
    ASSERT_EQ(report.cells.size(), 2u);
    EXPECT_EQ(str(linker_namespace.find_cell("counter")->version()), "0.4.0");
    EXPECT_EQ(function<Count>(kCounterCount)("both").value(), 2);
    EXPECT_EQ(function<std::uint64_t (*)(StringView)>(kCounterWritesOf)("both"), 2u);

    // kv 1.x cannot come back alone now: counter 0.4.0 uses kv::writes.
    const std::string before = dump();
    auto refused = linker_namespace.rollback_cell("kv");
    ASSERT_TRUE(refused.is_error());
    EXPECT_NE(str(linker_namespace.last_failure()).find(kKvWrites), std::string::npos) << str(linker_namespace.last_failure());
    EXPECT_NE(str(linker_namespace.last_failure()).find("used by cell counter"), std::string::npos);
    EXPECT_EQ(dump(), before);

    swap_ok({{"counter", "counter"}, {"kv", "kv"}});
    EXPECT_EQ(str(linker_namespace.find_cell("counter")->version()), "0.3.1");
    EXPECT_EQ(function<Count>(kCounterCount)("both").value(), 3);
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, ACellInADependencyCycleSwapsAloneOrWithItsPartner)
{
    CellLibrary& cycle = library_of({"cycle_ping", "cycle_pong"});
    ASSERT_FALSE(linker_namespace.load_cell("cycle_ping", cycle).is_error());
    using Hop = int (*)(int);
    EXPECT_EQ(function<Hop>("_ZN5delos5cycle4pingEi")(3), 1 + 10 + 1);

    swap_ok({{"cycle_ping", "cycle_ping.v2"}});
    EXPECT_EQ(function<Hop>("_ZN5delos5cycle4pingEi")(3), 2 + 10 + 2);  // pong's call back was re-pointed
    EXPECT_EQ(function<Hop>("_ZN5delos5cycle4pongEi")(2), 10 + 2);
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);

    swap_ok({{"cycle_ping", "cycle_ping"}, {"cycle_pong", "cycle_pong"}});
    EXPECT_EQ(function<Hop>("_ZN5delos5cycle4pingEi")(3), 1 + 10 + 1);
    EXPECT_EQ(linker_namespace.cells().size(), 2u);
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);
    expect_consistent_edges(linker_namespace);
    ASSERT_FALSE(linker_namespace.unload_cells(Vector<StringView>{"cycle_ping", "cycle_pong"}).is_error());
    expect_nothing_loaded();
}

// The kernel scans in a stop-machine window and runs destructors after it: the two steps of
// collect_retired() decide and release exactly what it would.
TEST_F(SwapTest, RetiredCellsAreCollectedInTwoStepsScanThenRelease)
{
    ScriptedInspector inspector;
    linker_namespace.set_task_inspector(inspector);
    ASSERT_NE(load("counter"), nullptr);
    std::size_t regions = memory.live_regions();
    std::uint64_t old_count = symbol(kCounterCount);
    inspector.held_addresses.push_back(old_count + 4);
    swap_ok({{"counter", "counter"}});
    ASSERT_EQ(linker_namespace.retiring_cells().size(), 1u);
    EXPECT_TRUE(linker_namespace.releasable_retired().empty());  // a task still refers to it
    EXPECT_EQ(linker_namespace.release_retired({}), 0u);

    inspector.held_addresses.clear();
    auto releasable = linker_namespace.releasable_retired();
    ASSERT_EQ(releasable.size(), 1u);
    EXPECT_EQ(releasable[0], linker_namespace.retiring_cells()[0].get());
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 1u);  // the scan alone releases nothing
    EXPECT_EQ(linker_namespace.release_retired(releasable), 1u);
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);
    EXPECT_EQ(memory.live_regions(), regions);
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, AnOldVersionStaysRetiringWhileATaskRefersToItThenGoes)
{
    ScriptedInspector inspector;
    linker_namespace.set_task_inspector(inspector);
    ASSERT_NE(load("counter"), nullptr);
    std::size_t regions = memory.live_regions();
    // "A task is inside counter 0.3.1": a return address into its count().
    std::uint64_t old_count = symbol(kCounterCount);
    inspector.held_addresses.push_back(old_count + 4);

    // counter hands no state over, so it swaps at once; the old version retires.
    swap_ok({{"counter", "counter"}});
    ASSERT_EQ(linker_namespace.retiring_cells().size(), 1u);
    const LoadedCell* retiring = linker_namespace.cell_at(old_count);
    ASSERT_NE(retiring, nullptr);  // backtraces still name it
    EXPECT_EQ(retiring, linker_namespace.retiring_cells()[0].get());
    EXPECT_EQ(str(retiring->name()), "counter");
    EXPECT_EQ(linker_namespace.find_cell("counter")->generation(), 2u);
    EXPECT_NE(linker_namespace.find_cell("counter"), retiring);
    // The call in flight finishes on the old code, against the live kv: no count is lost.
    EXPECT_EQ(reinterpret_cast<Count>(old_count)("in-flight").value(), 1);
    EXPECT_EQ(function<Count>(kCounterCount)("in-flight").value(), 2);
    EXPECT_EQ(linker_namespace.collect_retired(), 0u);
    // kv is still linked to by the retiring counter: it cannot be unloaded meanwhile.
    EXPECT_TRUE(linker_namespace.unload_cell("kv").is_error());

    // Handing kv's state over now would strand the old counter's next call in the old kv's
    // empty store, so that swap waits (here: is refused) while the old counter is in use.
    const std::string before = dump();
    auto refused = swap({{"kv", "kv.v2"}});
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(refused.error().code, ErrorCode::Busy);
    EXPECT_EQ(dump(), before);

    inspector.held_addresses.clear();
    EXPECT_EQ(linker_namespace.collect_retired(), 1u);
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);
    EXPECT_EQ(memory.live_regions(), regions);
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, AStateHandOverWaitsForNoTaskInsideTheOldVersion)
{
    ScriptedInspector inspector;
    linker_namespace.set_task_inspector(inspector);
    ASSERT_NE(load("counter"), nullptr);
    const std::string before = dump();
    inspector.held_addresses.push_back(symbol(kKvAdd) + 1);  // a task is inside kv::add
    auto refused = swap({{"kv", "kv.v2"}});
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(refused.error().code, ErrorCode::Busy);
    EXPECT_NE(str(linker_namespace.last_failure()).find("a task is still inside kv"), std::string::npos)
        << str(linker_namespace.last_failure());
    EXPECT_EQ(dump(), before);
    // counter hands nothing over: it may swap while a task is inside it (it then retires).
    inspector.held_addresses = {symbol(kCounterCount) + 1};
    swap_ok({{"counter", "counter"}});
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 1u);
}

TEST_F(SwapTest, APointerHandedOutAtRunTimeKeepsTheOldVersionUntilItIsGivenBack)
{
    ASSERT_NE(load("counter"), nullptr);
    swap_ok({{"kv", "kv.v2"}});
    auto borrow = function<const char* (*)()>(kKvBorrowBanner);
    auto give_back = function<void (*)()>(kKvReturnBanner);
    const char* banner = borrow();
    EXPECT_STREQ(banner, "kv 2.0.0: sorted entries with write counts");

    ASSERT_FALSE(linker_namespace.rollback_cell("kv").is_error()) << str(linker_namespace.last_failure());
    ASSERT_EQ(linker_namespace.retiring_cells().size(), 1u);  // kv 2.0.0: one banner is out
    EXPECT_STREQ(banner, "kv 2.0.0: sorted entries with write counts");  // still valid memory
    EXPECT_EQ(linker_namespace.collect_retired(), 0u);
    give_back();  // the holder returns it to the version that lent it
    EXPECT_EQ(linker_namespace.collect_retired(), 1u);
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);
}

TEST_F(SwapTest, CallsThroughADependentKeepCountingAcrossManySwapsAndNothingIsLeftOver)
{
    CellLibrary& with_caller = library_of({"log", "kv", "counter", "swap_caller"});
    ASSERT_FALSE(linker_namespace.load_cell("swap_caller", with_caller).is_error()) << str(linker_namespace.last_failure());
    auto count_many = function<CountMany>(kCountMany);
    std::size_t regions = memory.live_regions();
    std::uint64_t bytes = memory.live_bytes;
    std::uint64_t calls = 0;
    for (int round = 0; round < 50; ++round) {
        calls += count_many("loop", 7);
        if (round % 2 == 0)
            swap_ok({{"kv", "kv.v2"}, {"counter", "counter.v2"}});
        else
            swap_ok({{"counter", "counter"}, {"kv", "kv"}});
    }
    calls += count_many("loop", 7);
    EXPECT_EQ(calls, 51u * 7u);
    EXPECT_EQ(function<Count>(kCounterValue)("loop").value(), static_cast<std::int64_t>(calls));
    EXPECT_EQ(linker_namespace.find_cell("kv")->generation(), 51u);
    EXPECT_EQ(linker_namespace.retiring_cells().size(), 0u);
    EXPECT_EQ(memory.live_regions(), regions);
    EXPECT_EQ(memory.live_bytes, bytes);
    expect_consistent_edges(linker_namespace);
}

TEST_F(SwapTest, AnArchiveKeepsOtherVersionsApartAndASwapCanUseThemInPlace)
{
    Bytes archive = read_file(std::string(DELOS_BUILD_DIR) + "/cells/swap-test.a");
    ASSERT_FALSE(archive.empty()) << "build the cells target first";
    auto indexed = CellLibrary::from_archive(view(archive));
    ASSERT_FALSE(indexed.is_error()) << indexed.error().message;
    const CellLibrary& versions = indexed.value();
    ASSERT_NE(versions.find_version("kv.v2"), nullptr);
    EXPECT_EQ(str(versions.find_version("kv.v2")->name), "kv");
    EXPECT_EQ(str(versions.find_version("kv.v2")->version), "2.0.0");
    EXPECT_EQ(str(versions.find_cell("kv")->version), "1.2.0");  // loading "kv" still means 1.x
    EXPECT_EQ(versions.provider_of(kKvWrites), nullptr);           // versions never satisfy imports
    EXPECT_EQ(versions.find_version("kv"), nullptr);
    EXPECT_EQ(versions.find_cell("kv.v2"), nullptr);

    // A version in the archive swaps in without a copy (the archive outlives the cells) and
    // rolls back to the boot version, also a view.
    ASSERT_FALSE(linker_namespace.load_cell("counter", versions).is_error());
    const link::LibraryCell* v2 = versions.find_version("kv.v2");
    auto swapped = linker_namespace.swap_cells(Vector<SwapPair>{SwapPair{"kv", v2->object, true}}, &versions);
    ASSERT_FALSE(swapped.is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(linker_namespace.find_cell("kv")->object().bytes.data(), v2->object.data());
    EXPECT_TRUE(linker_namespace.find_cell("kv")->object().owned.empty());
    ASSERT_FALSE(linker_namespace.rollback_cell("kv", &versions).is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(linker_namespace.find_cell("kv")->object().bytes.data(), versions.find_cell("kv")->object.data());

    // A member named like a version but holding another cell is refused.
    auto renamed = make_archive({{"kv.v2.o", cell_bytes("counter")}});
    String detail;
    auto refused = CellLibrary::from_archive(view(renamed), &detail);
    ASSERT_TRUE(refused.is_error());
    EXPECT_NE(str(detail.view()).find("holds cell \"counter\""), std::string::npos) << str(detail.view());
}

TEST_F(SwapTest, APushedObjectIsKeptSoItCanBeRolledBackTo)
{
    ASSERT_NE(load("counter"), nullptr);
    Bytes pushed = cell_bytes("hello");
    ASSERT_FALSE(linker_namespace.load_object(view(pushed), library).is_error());
    const LoadedCell* hello = linker_namespace.find_cell("hello");
    EXPECT_FALSE(hello->object().owned.empty());  // a copy: the pushed bytes may go away
    EXPECT_NE(hello->object().bytes.data(), pushed.data());
    swap_ok({{"hello", "hello"}});
    std::fill(pushed.begin(), pushed.end(), 0);  // the caller's bytes are gone
    auto back = linker_namespace.rollback_cell("hello");
    ASSERT_FALSE(back.is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(linker_namespace.find_cell("hello")->generation(), 3u);
}

TEST_F(SwapTest, SwappingBackAndForthWithStateLeaksNoHeap)
{
    ASSERT_NE(load("counter"), nullptr);
    auto put = function<Put>(kKvPut);
    for (int i = 0; i < 40; ++i)
        ASSERT_FALSE(put(("key" + std::to_string(i)).c_str(), "value").is_error());
    auto cycle = [&] {
        swap_ok({{"kv", "kv.v2"}});
        ASSERT_FALSE(linker_namespace.rollback_cell("kv").is_error()) << str(linker_namespace.last_failure());
        kept.clear();
        HostKernel::serial_output.clear();
        HostKernel::serial_output.shrink_to_fit();
        invoker.calls.clear();
        invoker.calls.shrink_to_fit();
    };
    // Warm up (vector capacities settle, the previous generation's object is kept), then 100
    // cycles of kv 1.2.0 -> 2.0.0 -> back, 40 entries handed over each way: every allocation the
    // linker and the cells made during them (object copies, sections' edge lists, symbol names,
    // state values, kv's strings) must have been freed again.
    for (int i = 0; i < 3; ++i)
        cycle();
    long before = delos::test::live_allocations();
    for (int i = 0; i < 100; ++i)
        cycle();
    EXPECT_EQ(delos::test::live_allocations(), before);
    EXPECT_EQ(str(function<Get>(kKvGet)("key39").value().view()), "value");
    EXPECT_EQ(linker_namespace.find_cell("kv")->generation(), 1u + 2u * 103u);
}

namespace {

std::string build_id_of(const Bytes& bytes)
{
    auto digest = crypto::Sha256::digest(view(bytes));
    char hex[41] = {};
    for (int i = 0; i < 20; ++i)
        std::snprintf(hex + 2 * i, 3, "%02x", digest.bytes[i]);
    return hex;
}

} // namespace

// The build id (SHA-256 of the object) is hashed once per object, not per swap: a pushed object's
// verified digest is taken as given, a kept object carries its own to a rollback, an archive
// member is hashed at its first use and remembered; bytes of unknown origin, or a malformed id,
// are hashed. Every id is the object's true one.
TEST_F(SwapTest, BuildIdsAreHashedOncePerObjectAndTravelWithIt)
{
    Bytes archive = read_file(std::string(DELOS_BUILD_DIR) + "/cells/swap-test.a");
    ASSERT_FALSE(archive.empty()) << "build the cells target first";
    auto indexed = CellLibrary::from_archive(view(archive));
    ASSERT_FALSE(indexed.is_error()) << indexed.error().message;
    const CellLibrary& versions = indexed.value();
    const LibraryCell* v1 = versions.find_cell("kv");
    const LibraryCell* v2 = versions.find_version("kv.v2");
    ASSERT_NE(v1, nullptr);
    ASSERT_NE(v2, nullptr);
    std::string v1_id = build_id_of(Bytes(v1->object.data(), v1->object.data() + v1->object.size()));
    std::string v2_id = build_id_of(Bytes(v2->object.data(), v2->object.data() + v2->object.size()));

    // Archive members: unknown until first used, then remembered (found by address, not contents).
    EXPECT_FALSE(v1->build_id.known());
    ASSERT_FALSE(linker_namespace.load_cell("counter", versions).is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->build_id()), v1_id);
    EXPECT_EQ(str(v1->build_id.view()), v1_id);
    EXPECT_FALSE(v2->build_id.known());
    ASSERT_FALSE(linker_namespace.swap_cells(Vector<SwapPair>{SwapPair{"kv", v2->object, true}}, &versions).is_error());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->build_id()), v2_id);
    EXPECT_EQ(str(v2->build_id.view()), v2_id);
    Bytes copy(v2->object.data(), v2->object.data() + v2->object.size());
    EXPECT_EQ(versions.member_at(view(copy)), nullptr);  // equal bytes elsewhere are not the member
    EXPECT_FALSE(versions.build_id_of(view(copy)).known());

    // A rollback takes the id the kept object carries (the one it was loaded with).
    ASSERT_FALSE(linker_namespace.rollback_cell("kv", &versions).is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->build_id()), v1_id);
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->object().build_id.view()), v1_id);

    // A pushed object: its verified digest is used as given (no hash); a malformed one is not trusted.
    std::string pushed_id = v2_id;
    SwapPair pushed{"kv", view(copy), false};
    pushed.build_id = StringView(pushed_id.data(), pushed_id.size());
    ASSERT_FALSE(linker_namespace.swap_cells(Vector<SwapPair>{pushed}).is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->build_id()), v2_id);
    ASSERT_FALSE(linker_namespace.rollback_cell("kv", &versions).is_error()) << str(linker_namespace.last_failure());
    std::string malformed = "not-a-build-id";
    SwapPair unknown{"kv", view(copy), false};
    unknown.build_id = StringView(malformed.data(), malformed.size());
    ASSERT_FALSE(linker_namespace.swap_cells(Vector<SwapPair>{unknown}).is_error()) << str(linker_namespace.last_failure());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->build_id()), v2_id);  // hashed: the true id
}
