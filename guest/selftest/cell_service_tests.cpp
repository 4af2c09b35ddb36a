// cell_service_tests.cpp: in-guest tests of the cell manager as a service: a cell whose init
// sleeps and spawns a task that outlives it loads while other tasks keep running; its entry
// and the task it spawned carry its cell number; it cannot be unloaded while that task runs;
// the query API reports it; errors carry their detail; the exception hooks form a chain.
#include <atomic>

#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/tsc.h"
#include "debug/fault_probe.h"
#include "lib/core/byte_view.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "selftest/selftest.h"
#include "task/current_task.h"
#include "task/scheduler.h"
#include "task/spawn.h"

extern "C" const unsigned char delos_selftest_init_sleeps_start[];
extern "C" const unsigned char delos_selftest_init_sleeps_end[];

namespace delos::selftest {

namespace {

using loader::cell_manager;
using loader::CellId;

// Same layout as cells/init_sleeps/init_sleeps.cpp.
struct InitSleepsReport {
    std::uint64_t init_task_id;
    std::uint64_t init_task_cell;
    std::uint64_t worker_task_id;
    std::uint64_t worker_task_cell;
    std::uint64_t worker_iterations;
    std::uint64_t worker_finished;
};

constexpr std::uint64_t kInitSleepNs = 10'000'000;

bool contains(StringView text, StringView part)
{
    for (std::size_t i = 0; i + part.size() <= text.size(); ++i) {
        if (text.substr(i, part.size()) == part)
            return true;
    }
    return false;
}

ByteView init_sleeps_object()
{
    return ByteView(delos_selftest_init_sleeps_start,
                    static_cast<std::size_t>(delos_selftest_init_sleeps_end - delos_selftest_init_sleeps_start));
}

InitSleepsReport read_report()
{
    InitSleepsReport report{};
    auto address = cell_manager().symbol_address("init_sleeps_read_report");
    if (!address.is_error())
        reinterpret_cast<void (*)(InitSleepsReport*)>(address.value())(&report);
    return report;
}

// Waits (sleeping) until `done()` holds, for up to ~5 s of guest time; returns whether it held.
template <typename Condition>
bool wait_until(Condition done)
{
    for (int i = 0; i < 5000; ++i) {
        if (done())
            return true;
        task::scheduler::sleep_for(1'000'000);
    }
    return done();
}

ErrorOr<void> a_blocking_init_loads_while_other_tasks_run()
{
    SELFTEST_CHECK(!init_sleeps_object().empty());
    SELFTEST_CHECK(!cell_manager().is_loaded("init_sleeps"));
    std::uint64_t sections_before = cell_manager().section_bytes_in_use();

    // A ticker that sleeps 1 ms per round: its deadlines fall inside the init's 10 ms sleep, so
    // it must run during the load unless the load keeps the CPU (interrupts masked, spinning).
    static std::atomic<std::uint64_t> ticks;
    static std::atomic<bool> stop;
    ticks.store(0);
    stop.store(false);
    auto ticker = SELFTEST_TRY(task::spawn("selftest.ticker", [] {
        while (!stop.load(std::memory_order_acquire)) {
            ticks.fetch_add(1, std::memory_order_relaxed);
            task::scheduler::sleep_for(1'000'000);
        }
    }));
    SELFTEST_CHECK(wait_until([] { return ticks.load() > 0; }));

    std::uint64_t ticks_before = ticks.load();
    std::uint64_t start = tsc::nanoseconds_since_boot();
    auto loaded = cell_manager().load_object(init_sleeps_object());
    std::uint64_t elapsed = tsc::nanoseconds_since_boot() - start;
    std::uint64_t ticks_during = ticks.load() - ticks_before;
    stop.store(true, std::memory_order_release);
    (void)ticker.join();
    loader::LoadResult result = SELFTEST_TRY(static_cast<ErrorOr<loader::LoadResult>&&>(loaded));

    SELFTEST_CHECK(result.cell.name == StringView("init_sleeps"));
    SELFTEST_CHECK(elapsed >= kInitSleepNs);  // the init really slept (sleep_for sleeps at least that long)
    SELFTEST_CHECK(ticks_during > 0);          // ...and the ticker ran meanwhile

    // Its init ran in a task of its own, tagged with the cell; the worker it spawned inherits it.
    InitSleepsReport report = read_report();
    CellId id = result.cell.id;
    SELFTEST_CHECK(id != loader::CellId(0));
    SELFTEST_CHECK(report.init_task_cell == id);
    SELFTEST_CHECK(report.init_task_id != task::current_identity().id);
    SELFTEST_CHECK(report.worker_task_id != 0);
    SELFTEST_CHECK(wait_until([] { return read_report().worker_iterations > 0; }));
    SELFTEST_CHECK(read_report().worker_task_cell == id);

    // The query API sees the cell and its task; unloading it now is refused.
    auto summary = SELFTEST_TRY(cell_manager().cell("init_sleeps", true));
    SELFTEST_CHECK(summary.id == id && summary.state == loader::CellState::Live && summary.generation >= 1);
    SELFTEST_CHECK(summary.task_count == 1);
    SELFTEST_CHECK(summary.sections.size() == summary.section_count && summary.section_count > 0);
    SELFTEST_CHECK(cell_manager().task_count(id) == 1);
    auto refused = cell_manager().unload("init_sleeps");
    SELFTEST_CHECK(refused.is_error() && refused.error().code == ErrorCode::Busy);
    SELFTEST_CHECK(refused.error().has_detail() && contains(refused.error().explanation(), "init_sleeps"));
    SELFTEST_CHECK(cell_manager().is_loaded("init_sleeps"));

    // Released, the worker ends; then the cell unloads and everything it took comes back.
    auto release = SELFTEST_TRY(cell_manager().symbol_address("init_sleeps_release"));
    reinterpret_cast<void (*)()>(release)();
    SELFTEST_CHECK(wait_until([id] { return cell_manager().task_count(id) == 0; }));
    SELFTEST_CHECK(read_report().worker_finished == 1);
    SELFTEST_TRY(cell_manager().unload("init_sleeps"));
    SELFTEST_CHECK(!cell_manager().is_loaded("init_sleeps"));
    SELFTEST_CHECK(cell_manager().cell("init_sleeps").is_error());
    // Frames are compared by the next test, once task stacks are cached: here the cell's own memory.
    SELFTEST_CHECK(cell_manager().section_bytes_in_use() == sections_before);
    return {};
}

ErrorOr<void> reloading_counts_generations_and_new_numbers()
{
    auto first = SELFTEST_TRY(cell_manager().load_object(init_sleeps_object()));
    reinterpret_cast<void (*)()>(SELFTEST_TRY(cell_manager().symbol_address("init_sleeps_release")))();
    CellId first_id = first.cell.id;
    SELFTEST_CHECK(wait_until([first_id] { return cell_manager().task_count(first_id) == 0; }));
    SELFTEST_TRY(cell_manager().unload("init_sleeps"));
    // The stacks of entry and worker tasks are cached now: a second cycle takes no frame for good.
    std::size_t frames_before = memory::frame_allocator().free_frames();
    auto second = SELFTEST_TRY(cell_manager().load_object(init_sleeps_object()));
    CellId second_id = second.cell.id;
    reinterpret_cast<void (*)()>(SELFTEST_TRY(cell_manager().symbol_address("init_sleeps_release")))();
    SELFTEST_CHECK(wait_until([second_id] { return cell_manager().task_count(second_id) == 0; }));
    SELFTEST_TRY(cell_manager().unload("init_sleeps"));
    SELFTEST_CHECK(memory::frame_allocator().free_frames() == frames_before);
    SELFTEST_CHECK(second_id != first_id);                               // numbers are never reused
    SELFTEST_CHECK(second.cell.generation == first.cell.generation + 1);  // generations count up
    return {};
}

ErrorOr<void> kernel_tasks_belong_to_the_kernel()
{
    SELFTEST_CHECK(task::current_identity().cell == task::kKernelCell);
    auto handle = SELFTEST_TRY(task::spawn("selftest.kernel", [] { return task::current_identity().cell; }));
    auto outcome = handle.join();
    SELFTEST_CHECK(outcome.returned() && outcome.value() == task::kKernelCell);
    // A task told its cell keeps it, and what it spawns from kernel code inherits it.
    task::SpawnOptions options;
    options.cell = 4242;
    auto tagged = SELFTEST_TRY(task::spawn("selftest.tagged", [] {
        auto inner = task::spawn("selftest.inherit", [] { return task::current_identity().cell; });
        if (inner.is_error())
            return task::CellId(1);
        auto inner_outcome = inner.value().join();
        return inner_outcome.returned() ? inner_outcome.value() : task::CellId(2);
    }, options));
    auto tagged_outcome = tagged.join();
    SELFTEST_CHECK(tagged_outcome.returned() && tagged_outcome.value() == 4242);
    return {};
}

ErrorOr<void> refusals_carry_their_detail()
{
    auto missing = cell_manager().load("no_such_cell");
    SELFTEST_CHECK(missing.is_error() && missing.error().code == ErrorCode::NotFound);
    if (cell_manager().library())
        SELFTEST_CHECK(missing.error().has_detail() && contains(missing.error().explanation(), "no_such_cell"));
    auto not_loaded = cell_manager().unload("no_such_cell");
    SELFTEST_CHECK(not_loaded.is_error() && contains(not_loaded.error().explanation(), "no_such_cell"));
    return {};
}

bool g_second_hook_saw = false;

bool second_hook(arch::InterruptFrame& frame)
{
    // Asked only when the probe (rank 10) declined: resumes past a ud2.
    if (frame.vector != 6)
        return false;
    g_second_hook_saw = true;
    frame.rip += 2;
    return true;
}

void execute_ud2(void*) { asm volatile("ud2"); }

ErrorOr<void> exception_hooks_form_a_chain()
{
    // An active fault probe is asked first and takes its fault... (The test hook ranks just
    // before fault containment, which would otherwise end this task for its ud2.)
    constexpr int kRank = arch::kExceptionRankRecovery - 1;
    SELFTEST_CHECK(arch::add_exception_hook(second_hook, kRank));
    FaultRecord record{};
    bool faulted = run_expecting_fault(execute_ud2, nullptr, record);
    SELFTEST_CHECK(faulted && record.vector == 6 && !g_second_hook_saw);
    // ...without a probe, the next hook in the chain gets it.
    execute_ud2(nullptr);
    SELFTEST_CHECK(g_second_hook_saw);
    SELFTEST_CHECK(!arch::add_exception_hook(second_hook, kRank));  // no duplicates
    arch::remove_exception_hook(second_hook);
    return {};
}

} // namespace

extern const TestCase kCellServiceTests[] = {
    {"cellservice", "a_blocking_init_loads_while_other_tasks_run", a_blocking_init_loads_while_other_tasks_run},
    {"cellservice", "reloading_counts_generations_and_new_numbers", reloading_counts_generations_and_new_numbers},
    {"cellservice", "kernel_tasks_belong_to_the_kernel", kernel_tasks_belong_to_the_kernel},
    {"cellservice", "refusals_carry_their_detail", refusals_carry_their_detail},
    {"cellservice", "exception_hooks_form_a_chain", exception_hooks_form_a_chain},
};
extern const std::size_t kCellServiceTestCount = sizeof kCellServiceTests / sizeof kCellServiceTests[0];

} // namespace delos::selftest
