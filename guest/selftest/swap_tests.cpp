// swap_tests.cpp: in-guest tests of live evolution (`selftest swap`, booted with
// build/cells/swap-test.a as the module, which holds the other versions of cells): kv swaps to
// 2.0.0 keeping every entry and rolls back; refused swaps change nothing (introspection text,
// section memory, frames); and tasks calling counter through swap_caller in a tight loop lose
// no call while counter is swapped back and forth many times, with no retiring cell left after.
#include <atomic>

#include "log/kernel_log.h"
#include "lib/core/format.h"
#include "lib/core/string.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/page_table.h"
#include "selftest/selftest.h"
#include "task/scheduler.h"
#include "task/spawn.h"
#include "task/stack_cache.h"

namespace delos::selftest {

namespace {

using loader::cell_manager;

constexpr const char* kKvPut = "_ZN5delos2kv3putENS_10StringViewES1_";
constexpr const char* kKvGet = "_ZN5delos2kv3getENS_10StringViewE";
constexpr const char* kCounterCount = "_ZN5delos7counter5countENS_10StringViewE";
constexpr const char* kCounterValue = "_ZN5delos7counter5valueENS_10StringViewE";
constexpr const char* kCountMany = "_ZN5delos11swap_caller10count_manyENS_10StringViewEm";

constexpr int kSwapRounds = 1000;  // the figure; ~25 s under QEMU TCG
constexpr int kCallers = 3;

bool has_text(StringView text, StringView part)
{
    for (std::size_t i = 0; i + part.size() <= text.size(); ++i) {
        if (text.substr(i, part.size()) == part)
            return true;
    }
    return false;
}

template <typename Function>
Function* resolve(const char* name)
{
    const link::SymbolDefinition* definition = cell_manager().cell_namespace().find_symbol(name);
    return definition ? reinterpret_cast<Function*>(definition->address) : nullptr;
}

ErrorOr<ByteView> version_object(StringView tagged)
{
    const link::CellLibrary* library = cell_manager().library();
    if (!library)
        return Error::make(ErrorCode::NotFound, "no boot archive: boot with build/cells/swap-test.a as the module");
    const link::LibraryCell* cell = tagged.find('.') != StringView::npos ? library->find_version(tagged) : library->find_cell(tagged);
    if (!cell)
        return Error::make(ErrorCode::NotFound, "the module lacks a cell version: boot with build/cells/swap-test.a");
    return cell->object;
}

ErrorOr<link::SwapReport> swap_one(StringView cell, StringView object_name)
{
    ByteView object = TRY(version_object(object_name));
    return cell_manager().swap(Vector<link::SwapPair>{link::SwapPair{cell, object, true}});
}

String describe_everything()
{
    StringSink sink;
    cell_manager().describe(sink);
    return static_cast<String&&>(sink.string());
}

// Every frame is free, held by the kernel heap (which grows and shrinks with log lines and
// failure texts), or a page table (the identity map splits large pages once when a region's
// permissions change); section memory, stacks and anything else leaked would be missing.
std::size_t frames_accounted()
{
    return memory::frame_allocator().free_frames() + memory::heap_statistics().pages_held
        + memory::kernel_page_table().table_frames();
}

StringView version_of(StringView cell)
{
    const link::LoadedCell* loaded = cell_manager().cell_namespace().find_cell(cell);
    return loaded ? loaded->version() : StringView("(none)");
}

ErrorOr<void> kv_keeps_entries_and_rolls_back()
{
    auto* put = resolve<ErrorOr<void>(StringView, StringView)>(kKvPut);
    SELFTEST_CHECK(put != nullptr);
    SELFTEST_TRY(put("swap.alpha", "1"));
    SELFTEST_TRY(put("swap.beta", "2"));
    std::uint32_t generation = cell_manager().cell_namespace().find_cell("kv")->generation();

    link::SwapReport report = SELFTEST_TRY(swap_one("kv", "kv.v2"));
    SELFTEST_CHECK(report.cells.size() == 1 && report.cells[0].new_generation == generation + 1);
    SELFTEST_CHECK(report.cells[0].state_layout == StringView("kv.entries/1"));
    SELFTEST_CHECK(version_of("kv") == StringView("2.0.0"));
    kprint("swap: kv 1.2.0 -> 2.0.0 in {} us (load {} link {} verify {} transfer {} re-point {} cleanup {} us, {} relocations)\n",
           report.total_ns / 1000, report.stage_ns[0] / 1000, report.stage_ns[1] / 1000, report.stage_ns[2] / 1000,
           report.stage_ns[3] / 1000, report.stage_ns[4] / 1000, report.stage_ns[5] / 1000, report.relocations_repointed);
    auto* get = resolve<ErrorOr<String>(StringView)>(kKvGet);
    SELFTEST_CHECK(SELFTEST_TRY(get("swap.alpha")) == StringView("1"));
    SELFTEST_CHECK(SELFTEST_TRY(get("swap.beta")) == StringView("2"));
    auto* count = resolve<ErrorOr<std::int64_t>(StringView)>(kCounterCount);
    std::int64_t counted = SELFTEST_TRY(count("swap.event"));

    link::SwapReport back = SELFTEST_TRY(cell_manager().rollback("kv"));
    SELFTEST_CHECK(back.cells[0].new_generation == generation + 2);
    SELFTEST_CHECK(version_of("kv") == StringView("1.2.0"));
    get = resolve<ErrorOr<String>(StringView)>(kKvGet);
    SELFTEST_CHECK(SELFTEST_TRY(get("swap.beta")) == StringView("2"));
    SELFTEST_CHECK(SELFTEST_TRY(count("swap.event")) == counted + 1);  // counter followed both swaps
    SELFTEST_CHECK(cell_manager().cell_namespace().retiring_cells().empty());
    return {};
}

ErrorOr<void> refusals_change_nothing()
{
    struct Refusal {
        const char* cell;
        const char* object;
        const char* named;
    };
    const Refusal refusals[] = {
        {"kv", "kv.badlayout", "kv.entries/9"},
        {"kv", "kv.missing", "used by cell counter"},
        {"counter", "counter.v2", "_ZN5delos2kv6writesENS_10StringViewE"},
        {"log", "kv.v2", "declares itself as kv"},
    };
    // The first pass may grow the heap and split pages; the second must keep no frame.
    std::size_t frames = 0;
    for (int pass = 0; pass < 2; ++pass) {
        String before = describe_everything();
        std::uint64_t sections = cell_manager().section_bytes_in_use();
        frames = frames_accounted();
        for (const Refusal& refusal : refusals) {
            auto refused = swap_one(refusal.cell, refusal.object);
            SELFTEST_CHECK(refused.is_error());
            if (pass == 0)
                kprint("swap: refused {} <- {}: {}: {}\n", refusal.cell, refusal.object, refused.error().message,
                       cell_manager().last_failure());
            SELFTEST_CHECK(has_text(cell_manager().last_failure(), StringView(refusal.named)));
            SELFTEST_CHECK(describe_everything() == before.view());
            SELFTEST_CHECK(cell_manager().section_bytes_in_use() == sections);
        }
    }
    SELFTEST_CHECK(frames_accounted() == frames);
    return {};
}

ErrorOr<void> calls_in_flight_survive_many_swaps()
{
    SELFTEST_TRY(swap_one("kv", "kv.v2"));  // counter 0.4.0 needs kv 2.x
    auto* count_many = resolve<std::uint64_t(StringView, std::uint64_t)>(kCountMany);
    if (!count_many)
        return Error::make(ErrorCode::NotFound, "swap_caller is not loaded: boot with build/cells/swap-test.a");
    // Each caller counts its own event; the keys exist before the callers start, so the kv
    // store only changes values under them, never its shape.
    String events[kCallers];
    for (int i = 0; i < kCallers; ++i) {
        events[i] = format("swap.caller{}", i);
        SELFTEST_CHECK(count_many(events[i].view(), 1) == 1);
    }
    std::uint64_t sections = cell_manager().section_bytes_in_use();
    task::stack_cache::release_all();
    std::size_t frames = frames_accounted();
    std::atomic<bool> stop{false};
    Vector<task::JoinHandle<std::uint64_t>> callers;
    for (int i = 0; i < kCallers; ++i) {
        StringView event = events[i].view();
        callers.append(SELFTEST_TRY(task::spawn("swap-caller", [&stop, event, count_many] {
            std::uint64_t calls = 0;
            while (!stop.load(std::memory_order_relaxed))
                calls += count_many(event, 1);
            return calls;
        })));
    }

    std::size_t most_retiring = 0;
    std::uint64_t swap_ns = 0;
    for (int round = 0; round < kSwapRounds; ++round) {
        auto swapped = swap_one("counter", round % 2 == 0 ? "counter.v2" : "counter");
        if (swapped.is_error()) {
            stop.store(true);
            for (auto& caller : callers)
                caller.join();
            kprint("swap: round {} failed: {}: {}\n", round, swapped.error().message, cell_manager().last_failure());
            return swapped.release_error();
        }
        swap_ns += swapped.value().total_ns;
        std::size_t retiring = cell_manager().cell_namespace().retiring_cells().size();
        most_retiring = retiring > most_retiring ? retiring : most_retiring;
        task::scheduler::sleep_for(300'000);  // the callers run between swaps
    }
    stop.store(true);
    std::uint64_t calls[kCallers] = {};
    std::uint64_t total = 0;
    for (int i = 0; i < kCallers; ++i) {
        auto outcome = callers[i].join();
        SELFTEST_CHECK(outcome.returned());
        calls[i] = outcome.value();
        total += calls[i];
    }
    std::size_t released = cell_manager().collect_retired();
    kprint("swap: {} swaps of counter under {} callers: {} calls, mean swap {} us, up to {} retiring at once, {} released at the end\n",
           kSwapRounds, kCallers, total, swap_ns / kSwapRounds / 1000, most_retiring, released);

    auto* value = resolve<ErrorOr<std::int64_t>(StringView)>(kCounterValue);
    for (int i = 0; i < kCallers; ++i) {
        std::int64_t counted = SELFTEST_TRY(value(events[i].view()));
        if (counted != static_cast<std::int64_t>(calls[i] + 1)) {
            kprint("swap: caller {} made {} calls but counter holds {}\n", i, calls[i] + 1, counted);
            SELFTEST_CHECK(counted == static_cast<std::int64_t>(calls[i] + 1));
        }
        SELFTEST_CHECK(calls[i] > 0);
    }
    SELFTEST_CHECK(cell_manager().cell_namespace().retiring_cells().empty());
    SELFTEST_CHECK(version_of("counter") == StringView("0.3.1"));  // an even number of swaps
    SELFTEST_CHECK(cell_manager().section_bytes_in_use() == sections);
    task::stack_cache::release_all();
    if (frames_accounted() != frames) {
        kprint("swap: frames accounted for before {} after {}\n", frames, frames_accounted());
        SELFTEST_CHECK(frames_accounted() == frames);  // no frame left over
    }
    SELFTEST_TRY(cell_manager().rollback("kv"));
    return {};
}

} // namespace

extern const TestCase kSwapTests[] = {
    {"swap", "kv_keeps_entries_and_rolls_back", kv_keeps_entries_and_rolls_back},
    {"swap", "refusals_change_nothing", refusals_change_nothing},
    {"swap", "calls_in_flight_survive_many_swaps", calls_in_flight_survive_many_swaps},
};
extern const std::size_t kSwapTestCount = sizeof kSwapTests / sizeof kSwapTests[0];

} // namespace delos::selftest
