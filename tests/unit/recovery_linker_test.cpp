// recovery_linker_test.cpp: the linker's side of fault recovery (docs/fault-recovery.md), on the
// real cells of this build in host memory: a reload replaces a cell by a fresh copy of its own
// object (state not handed over, dependents re-pointed, generation + 1, the generation kept for
// rollback unchanged); a quarantine rewrites every other cell's reference to its code to the
// refusal routine and leaves everything else, and a later reload re-points those users back to
// real code; a quarantine that cannot reach the refusal routine changes nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>

#include "linker/describe.h"
#include "linker/namespace.h"
#include "linker/relocation.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::link;
using namespace delos::host;

namespace {

constexpr const char* kKvSize = "_ZN5delos2kv4sizeEv";
constexpr const char* kKvPut = "_ZN5delos2kv3putENS_10StringViewES1_";
constexpr const char* kCounterCount = "_ZN5delos7counter5countENS_10StringViewE";

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

using Size = std::size_t (*)();
using Put = ErrorOr<void> (*)(StringView, StringView);
using Count = ErrorOr<std::int64_t> (*)(StringView);

class RecoveryLinkerTest : public LinkerTest {
protected:
    ErrorOr<SwapReport> reload(const char* name)
    {
        const LoadedCell* cell = linker_namespace.find_cell(name);
        EXPECT_NE(cell, nullptr);
        const CellObject& object = cell->object();
        return linker_namespace.swap_cells(Vector<SwapPair>{SwapPair{StringView(name), object.bytes, object.owned.empty(), true}}, library);
    }

    // Where each of `user`'s references into `provider`'s code points now (what the bytes say).
    std::vector<std::uint64_t> targets_of(const LoadedCell& user, const LoadedCell& provider)
    {
        std::vector<std::uint64_t> targets;
        for (const OwnPtr<LoadedSection>& section : user.sections()) {
            for (const Dependency& dependency : section->uses) {
                if (dependency.provider_kind != ProviderKind::Section || dependency.provider->cell != &provider
                    || dependency.provider->kind != SectionKind::Text)
                    continue;
                std::uint64_t place = section->address + dependency.relocation.offset;
                if (relocation_uses_got(dependency.relocation.type)) {
                    std::uint64_t slot;
                    std::memcpy(&slot, reinterpret_cast<const void*>(dependency.relocation.got_slot), sizeof slot);
                    targets.push_back(slot);
                } else {
                    std::int32_t value;  // PC32 / PLT32: S + A - P
                    std::memcpy(&value, reinterpret_cast<const void*>(place), sizeof value);
                    targets.push_back(static_cast<std::uint64_t>(static_cast<std::int64_t>(place) + value - dependency.relocation.addend));
                }
            }
        }
        return targets;
    }

    std::string dump()
    {
        StringSink sink;
        describe_cells(linker_namespace, sink);
        for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
            describe_cell(*cell, sink);
            for (SectionKind kind : {SectionKind::Text, SectionKind::ReadOnly}) {
                Region region = cell->region(kind);
                if (!region.empty())
                    sink.write(StringView(reinterpret_cast<const char*>(region.bytes()), region.size));
            }
        }
        return str(sink.string().view());
    }
};

} // namespace

TEST_F(RecoveryLinkerTest, AReloadIsAFreshCopyOfTheSameObjectWithDependentsRePointed)
{
    ASSERT_NE(load("counter"), nullptr);  // pulls kv and log
    auto put = reinterpret_cast<Put>(symbol(kKvPut));
    ASSERT_FALSE(put("key", "value").is_error());
    std::size_t entries = reinterpret_cast<Size>(symbol(kKvSize))();
    ASSERT_GT(entries, 1u);
    const LoadedCell* old_kv = linker_namespace.find_cell("kv");
    std::uint32_t generation = old_kv->generation();
    std::string version(str(old_kv->version()));
    EXPECT_FALSE(linker_namespace.has_previous_generation("kv"));

    auto reloaded = reload("kv");
    ASSERT_FALSE(reloaded.is_error()) << reloaded.error().message << ": " << str(linker_namespace.last_failure());
    const LoadedCell* kv = linker_namespace.find_cell("kv");
    EXPECT_NE(kv, old_kv);
    EXPECT_EQ(kv->generation(), generation + 1);
    EXPECT_EQ(str(kv->version()), version);
    EXPECT_TRUE(reloaded.value().cells[0].state_layout.empty());  // no state handed over: fresh
    EXPECT_EQ(reinterpret_cast<Size>(symbol(kKvSize))(), 0u);
    // counter's calls reach the fresh copy.
    const LoadedCell* counter = linker_namespace.find_cell("counter");
    for (std::uint64_t target : targets_of(*counter, *kv))
        EXPECT_TRUE(kv->contains(target)) << std::hex << target;
    auto counted = reinterpret_cast<Count>(symbol(kCounterCount))("event");
    ASSERT_FALSE(counted.is_error());
    EXPECT_EQ(counted.value(), 1);
    // A reload keeps no generation for rollback.
    EXPECT_FALSE(linker_namespace.has_previous_generation("kv"));
}

TEST_F(RecoveryLinkerTest, AReloadAfterASwapKeepsTheSwapsPreviousGenerationForRollback)
{
    ASSERT_NE(load("counter"), nullptr);
    Bytes v2 = cell_bytes("kv.v2");
    ASSERT_FALSE(v2.empty());
    ASSERT_FALSE(linker_namespace.swap_cells(Vector<SwapPair>{SwapPair{"kv", view(v2)}}, library).is_error());
    std::string swapped_version(str(linker_namespace.find_cell("kv")->version()));
    ASSERT_FALSE(reload("kv").is_error());
    EXPECT_EQ(str(linker_namespace.find_cell("kv")->version()), swapped_version);
    auto rolled = linker_namespace.rollback_cell("kv", library);
    ASSERT_FALSE(rolled.is_error()) << str(linker_namespace.last_failure());
    EXPECT_NE(str(linker_namespace.find_cell("kv")->version()), swapped_version);  // back to 1.x, not to the reloaded 2.x
}

TEST_F(RecoveryLinkerTest, AQuarantineRePointsEveryUserOfTheCellsCodeUntilAReload)
{
    ASSERT_NE(load("counter"), nullptr);
    Bytes probe = cell_bytes("reloc_probe");  // one reference of every relocation type to kv::size
    ASSERT_FALSE(linker_namespace.load_object(view(probe), library).is_error()) << str(linker_namespace.last_failure());
    LoadedCell* counter = linker_namespace.find_cell("counter");
    const LoadedCell* kv = linker_namespace.find_cell("kv");
    ASSERT_FALSE(targets_of(*counter, *kv).empty());
    // Any address the cells can reach serves as the refusal routine here (nothing calls it).
    std::uint64_t refusal = counter->region(SectionKind::Data).address;
    auto quarantined = linker_namespace.quarantine_cell("kv", refusal);
    ASSERT_FALSE(quarantined.is_error()) << quarantined.error().message;
    std::size_t references = 0;  // every other cell's relocation into kv's code
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            for (const Dependency& dependency : section->uses)
                references += cell.get() != kv && dependency.provider_kind == ProviderKind::Section && dependency.provider->cell == kv
                    && dependency.provider->kind == SectionKind::Text;
        }
    }
    EXPECT_EQ(quarantined.value(), references);
    EXPECT_GT(references, targets_of(*counter, *kv).size());
    EXPECT_TRUE(kv->quarantined());
    for (std::uint64_t target : targets_of(*counter, *kv))
        EXPECT_EQ(target, refusal);
    // Every relocation type: PLT32, 32S, 32 in text, the GOT slot, R_X86_64_64 (+16) and PC64 in data.
    std::uint64_t plt32 = symbol("probe_size_via_plt32");
    EXPECT_EQ(plt32 + 5 + read_rel32(plt32 + 1), refusal);
    EXPECT_EQ(static_cast<std::uint64_t>(read_rel32(symbol("probe_address_32s") + 3)), refusal);
    EXPECT_EQ(static_cast<std::uint32_t>(read_rel32(symbol("probe_address_32") + 1)), refusal);
    EXPECT_EQ(read_u64(linker_namespace.find_cell("reloc_probe")->got().address), refusal);
    std::uint64_t words = symbol("probe_words");
    EXPECT_EQ(read_u64(words), refusal + 16);
    EXPECT_EQ(read_u64(words + 8), refusal - (words + 8));
    // The records still name kv (so it cannot be unloaded under counter, and a reload re-points).
    EXPECT_TRUE(linker_namespace.unload_cell("kv").is_error());
    auto again = linker_namespace.quarantine_cell("kv", refusal);
    ASSERT_FALSE(again.is_error());
    EXPECT_EQ(again.value(), 0u);

    ASSERT_FALSE(reload("kv").is_error()) << str(linker_namespace.last_failure());
    const LoadedCell* fresh = linker_namespace.find_cell("kv");
    EXPECT_FALSE(fresh->quarantined());
    for (std::uint64_t target : targets_of(*counter, *fresh))
        EXPECT_TRUE(fresh->contains(target)) << std::hex << target;
    EXPECT_EQ(plt32 + 5 + read_rel32(plt32 + 1), symbol(kKvSize));
    EXPECT_EQ(read_u64(words), symbol(kKvSize) + 16);
    auto counted = reinterpret_cast<Count>(symbol(kCounterCount))("after");
    ASSERT_FALSE(counted.is_error());
    EXPECT_EQ(counted.value(), 1);
}

TEST_F(RecoveryLinkerTest, AQuarantineThatCannotReachTheRefusalRoutineChangesNothing)
{
    ASSERT_NE(load("counter"), nullptr);
    Bytes probe = cell_bytes("reloc_probe");  // its rel32 and 32-bit references cannot reach far
    ASSERT_FALSE(linker_namespace.load_object(view(probe), library).is_error()) << str(linker_namespace.last_failure());
    std::string before = dump();
    auto refused = linker_namespace.quarantine_cell("kv", 0x7fff'0000'0000ull);  // beyond any rel32
    ASSERT_TRUE(refused.is_error());
    EXPECT_FALSE(linker_namespace.find_cell("kv")->quarantined());
    EXPECT_EQ(dump(), before);
    EXPECT_TRUE(linker_namespace.quarantine_cell("no_such_cell", 0).is_error());
}
