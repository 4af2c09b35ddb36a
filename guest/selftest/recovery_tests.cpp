// recovery_tests.cpp: in-guest tests of fault recovery's policy (`selftest recovery`, booted with
// build/cells/recovery-test.a): a restartable task is spawned again after a fault with its
// resources back at their baseline; a cell's service task is restarted; a cell that faults again
// within its window is reloaded (generation + 1, fresh .data and .bss, its dependent re-pointed,
// its service started again); one that keeps faulting after its reloads is quarantined (its
// service stops, its dependent's calls are refused, its exports are refused) until a reload
// lifts it; a cell that faults right after a swap is rolled back. Throughout, a ticker task
// keeps counting, and every fault's log entry names the cell, symbol and action.
#include <atomic>

#include "lib/core/own_ptr.h"
#include "log/kernel_log.h"
#include "linker/kernel/cell_manager.h"
#include "memory/call_ownership.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/mapped_pages.h"
#include "memory/page_table.h"
#include "recovery/fault_containment.h"
#include "recovery/fault_log.h"
#include "recovery_policy/cell_records.h"
#include "recovery_policy/recovery_service.h"
#include "recovery_policy/restartable_tasks.h"
#include "selftest/selftest.h"
#include "arch/x86_64/cpu.h"
#include "task/scheduler.h"
#include "task/spawn.h"
#include "task/stack_cache.h"

namespace delos::selftest {

namespace {

using namespace task;

// faulty.h's FaultHow, without including a cell's header into the kernel.
constexpr int kNoFault = 0, kNullWrite = 1, kWildJump = 2, kInvalidOpcode = 3, kDivideByZero = 4;
constexpr std::uint64_t kInitialMarker = 0xfa0171;
constexpr std::uint64_t kMs = 1'000'000;

bool contains(StringView text, StringView part)
{
    for (std::size_t i = 0; i + part.size() <= text.size(); ++i)
        if (text.substr(i).starts_with(part))
            return true;
    return false;
}

// Polls `ready` every millisecond for up to `timeout_ms` (QEMU TCG is slow: timeouts are generous
// and only bound a failure; they are never what a test measures).
template <typename Ready>
bool wait_until(Ready ready, std::uint64_t timeout_ms = 20'000)
{
    for (std::uint64_t waited = 0; waited < timeout_ms; ++waited) {
        if (ready())
            return true;
        scheduler::sleep_for(kMs);
    }
    return ready();
}

// Another task that keeps working through every fault and recovery.
struct Ticker {
    std::atomic<std::uint64_t> ticks{0};
    std::atomic<bool> stop{false};
    JoinHandle<void> handle;

    ErrorOr<void> start()
    {
        handle = TRY(spawn("ticker", [this] {
            while (!stop.load())
                ticks.fetch_add(1), scheduler::sleep_for(kMs);
        }));
        return wait_until([this] { return ticks.load() > 0; }) ? ErrorOr<void>() : Error::make(ErrorCode::Timeout, "ticker never ran");
    }
    // True if it ticked on since `before`.
    bool ticked_since(std::uint64_t before)
    {
        return wait_until([&] { return ticks.load() > before + 2; });
    }
    ~Ticker()
    {
        stop = true;
        if (handle.valid())
            (void)handle.join();
    }
};

template <typename F>
ErrorOr<F> resolve(StringView symbol)
{
    std::uint64_t address = TRY(loader::cell_manager().symbol_address(symbol));
    return reinterpret_cast<F>(address);
}

using Serve = std::uint64_t (*)(int);
using Read = std::uint64_t (*)();
using Write = void (*)(std::uint64_t);
using Order = void (*)(int);
using Version = int (*)();

constexpr StringView kClientCall = "_ZN5delos13faulty_client4callEi";
constexpr StringView kClientMarker = "_ZN5delos13faulty_client6markerEv";
constexpr StringView kSetMarker = "_ZN5delos6faulty10set_markerEm";
constexpr StringView kServiceBeats = "_ZN5delos6faulty13service_beatsEv";
constexpr StringView kFaultService = "_ZN5delos6faulty13fault_serviceEi";
constexpr StringView kVersionNumber = "_ZN5delos6faulty14version_numberEv";

// faulty and its client loaded afresh, with a known policy and no history.
ErrorOr<void> fresh_faulty(const recovery::RecoveryPolicy& policy)
{
    auto& cells = loader::cell_manager();
    if (!cells.library() || !cells.library()->find_cell("faulty"))
        return Error::make(ErrorCode::NotFound, "boot with build/cells/recovery-test.a as the module (it holds faulty)");
    if (cells.is_loaded("faulty_client"))
        TRY(cells.unload("faulty_client"));
    if (cells.is_loaded("faulty"))
        TRY(cells.unload("faulty"));
    recovery::forget_cell("faulty");
    TRY(recovery::set_cell_policy("faulty", policy));
    TRY(cells.load("faulty_client"));  // pulls faulty in
    SELFTEST_CHECK(cells.is_loaded("faulty"));
    auto beats = TRY(resolve<Read>(kServiceBeats));
    SELFTEST_CHECK(wait_until([&] { return beats() > 0; }));  // its service runs
    return {};
}

recovery::RecoveryPolicy test_policy(std::uint32_t reload_after, std::uint32_t max_reloads)
{
    recovery::RecoveryPolicy policy;
    policy.window_ns = 60'000 * kMs;  // every fault of a test falls in one window, however slow the emulator
    policy.reload_after_faults = reload_after;
    policy.max_reloads = max_reloads;
    policy.rollback_window_ns = 60'000 * kMs;
    return policy;
}

// Calls faulty through its client in a task of its own; returns how that task ended.
struct CallOutcome {
    TaskEnd end = TaskEnd::Returned;
    std::uint64_t value = 0;
    TaskFault fault;
};
ErrorOr<CallOutcome> call_in_a_task(int how)
{
    auto call = TRY(resolve<Serve>(kClientCall));
    auto handle = TRY(spawn("faulty-caller", [call, how] { return call(how); }));
    auto outcome = handle.join();
    CallOutcome result;
    result.end = outcome.end();
    result.fault = outcome.fault();
    if (outcome.returned())
        result.value = outcome.value();
    SELFTEST_CHECK(outcome.ownership_at_end().frames == 0 && outcome.ownership_at_end().heap_bytes == 0);
    return result;
}

// The newest fault-log entry, which must be fault `sequence`.
ErrorOr<FaultLogEntry> logged(std::uint64_t sequence)
{
    static FaultLogEntry entry;  // ~2 KiB: not on the test's stack
    SELFTEST_CHECK(copy_fault_after(sequence - 1, entry));
    SELFTEST_CHECK(entry.sequence == sequence);
    return entry;
}

std::uint64_t next_fault_sequence() { return fault_containment_statistics().contained + 1; }

bool recovered(std::uint64_t completed_before)
{
    return wait_until([&] { return recovery::recovery_statistics().completed > completed_before; });
}

std::uint64_t frames_not_held_by_anyone_else()
{
    return memory::frame_allocator().free_frames() + memory::heap_statistics().pages_held + memory::kernel_page_table().table_frames();
}

std::atomic<int> g_instances{0};
std::atomic<int> g_started{0};
std::atomic<bool> g_fault_next{false};
volatile std::uint64_t g_null = 0;

struct Blob {
    std::uint64_t words[32] = {};
};

ErrorOr<void> restartable_task_is_restarted_with_its_resources_back()
{
    Ticker ticker;
    TRY(ticker.start());
    g_instances = 0;
    g_started = 0;
    g_fault_next = false;
    auto id = TRY(recovery::spawn_restartable("restart-test", []() -> recovery::TaskBody {
        g_instances.fetch_add(1);
        return [] {
            auto blob = make_own<Blob>();        // owned by the instance: released by the unwind
            auto page = memory::MappedPages::allocate(1);
            g_started.fetch_add(1);
            while (!recovery::stop_requested()) {
                if (g_fault_next.exchange(false))
                    *reinterpret_cast<volatile std::uint64_t*>(g_null) = blob->words[0];
                scheduler::sleep_for(kMs);
            }
        };
    }));
    SELFTEST_CHECK(wait_until([] { return g_started.load() == 1; }));
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t frames_before = frames_not_held_by_anyone_else();
    std::uint64_t sequence = next_fault_sequence();
    std::uint64_t completed = recovery::recovery_statistics().completed;
    std::uint64_t ticks = ticker.ticks.load();

    g_fault_next = true;
    SELFTEST_CHECK(wait_until([] { return g_started.load() == 2; }));
    SELFTEST_CHECK(recovered(completed));
    SELFTEST_CHECK(g_instances.load() == 2);  // a fresh closure from the factory
    auto status = recovery::restartable_status(id);
    SELFTEST_CHECK(status.known && status.restarts == 1 && status.running && !status.gave_up);
    auto entry = TRY(logged(sequence));
    SELFTEST_CHECK(entry.vector == 14);
    SELFTEST_CHECK(entry.recovery == RecoveryTaken::TaskRestarted);
    SELFTEST_CHECK(StringView(entry.task_name) == "restart-test");
    SELFTEST_CHECK(entry.recovery_cell[0] == '\0');  // a kernel task: no cell blamed
    // The old instance's heap object, page and stack went back; the new one holds the same again.
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == frames_before);
    SELFTEST_CHECK(ticker.ticked_since(ticks));
    SELFTEST_CHECK(recovery::stop_restartable(id, 5'000 * kMs));
    SELFTEST_CHECK(!recovery::restartable_status(id).known);
    return {};
}

ErrorOr<void> a_cell_service_task_is_restarted()
{
    TRY(fresh_faulty(test_policy(2, 2)));
    Ticker ticker;
    TRY(ticker.start());
    auto beats = TRY(resolve<Read>(kServiceBeats));
    auto fault_service = TRY(resolve<Order>(kFaultService));
    std::uint64_t sequence = next_fault_sequence();
    std::uint64_t completed = recovery::recovery_statistics().completed;
    std::uint64_t restarts = recovery::recovery_statistics().restarts;
    std::uint64_t ticks = ticker.ticks.load();
    fault_service(kNullWrite);
    SELFTEST_CHECK(recovered(completed));
    SELFTEST_CHECK(recovery::recovery_statistics().restarts == restarts + 1);
    auto entry = TRY(logged(sequence));
    SELFTEST_CHECK(entry.recovery == RecoveryTaken::TaskRestarted);
    SELFTEST_CHECK(StringView(entry.task_name) == "faulty-beat");
    SELFTEST_CHECK(StringView(entry.at.owner) == "faulty" && StringView(entry.recovery_cell) == "faulty");
    SELFTEST_CHECK(contains(StringView(entry.at.symbol), "fault"));
    SELFTEST_CHECK(entry.at.symbol_offset < 512 && entry.cell_faults == 1);
    SELFTEST_CHECK(entry.cell_generation == TRY(loader::cell_manager().cell("faulty")).generation);
    std::uint64_t after = beats();
    SELFTEST_CHECK(wait_until([&] { return beats() > after + 2; }));  // the restarted service beats on
    SELFTEST_CHECK(recovery::cell_recovery_status("faulty").task_restarts == 1);
    SELFTEST_CHECK(ticker.ticked_since(ticks));
    return {};
}

ErrorOr<void> a_cell_faulting_again_is_reloaded_fresh()
{
    TRY(fresh_faulty(test_policy(2, 2)));
    Ticker ticker;
    TRY(ticker.start());
    auto& cells = loader::cell_manager();
    auto client_marker = TRY(resolve<Read>(kClientMarker));
    (TRY(resolve<Write>(kSetMarker)))(42);
    SELFTEST_CHECK(client_marker() == 42);
    SELFTEST_CHECK(TRY(call_in_a_task(kNoFault)).value == 1);
    std::uint32_t generation = TRY(cells.cell("faulty")).generation;
    std::uint64_t sections_before = cells.section_bytes_in_use();
    std::uint64_t completed = recovery::recovery_statistics().completed;

    // First fault: a wild call into the cell's data; only the calling task ends.
    std::uint64_t first = next_fault_sequence();
    auto wild = TRY(call_in_a_task(kWildJump));
    SELFTEST_CHECK(wild.end == TaskEnd::Faulted && wild.fault.vector == 14 && wild.fault.sequence == first);
    auto first_entry = TRY(logged(first));
    SELFTEST_CHECK(first_entry.recovery == RecoveryTaken::TaskKilled && StringView(first_entry.recovery_cell) == "faulty");
    SELFTEST_CHECK(StringView(first_entry.at.owner) == "faulty");
    SELFTEST_CHECK(TRY(cells.cell("faulty")).generation == generation);
    SELFTEST_CHECK(client_marker() == 42);

    // Second fault within the window: #UD; the cell is reloaded from its pristine object.
    std::uint64_t ticks = ticker.ticks.load();
    std::uint64_t second = next_fault_sequence();
    auto ud = TRY(call_in_a_task(kInvalidOpcode));
    SELFTEST_CHECK(ud.end == TaskEnd::Faulted && ud.fault.vector == 6);
    auto entry = TRY(logged(second));
    SELFTEST_CHECK(entry.recovery == RecoveryTaken::CellReloaded);
    SELFTEST_CHECK(StringView(entry.at.owner) == "faulty" && contains(StringView(entry.at.symbol), "faulty_invalid_opcode"));
    SELFTEST_CHECK(entry.cell_faults == 2 && entry.cell_generation == generation);
    SELFTEST_CHECK(wait_until([&] { return recovery::recovery_statistics().completed >= completed + 1; }));
    SELFTEST_CHECK(recovery::recovery_statistics().reloads >= 1);
    SELFTEST_CHECK(TRY(cells.cell("faulty")).generation == generation + 1);
    // Fresh data (.data back to its initial value, .bss to zero), reached through the re-pointed client.
    SELFTEST_CHECK(client_marker() == kInitialMarker);
    SELFTEST_CHECK(TRY(call_in_a_task(kNoFault)).value == 1);
    auto beats = TRY(resolve<Read>(kServiceBeats));  // the fresh copy's own service
    SELFTEST_CHECK(wait_until([&] { return beats() > 2; }));
    // The old copy retires and goes once nothing refers to it: its memory comes back.
    bool retired = wait_until([&] {
        cells.collect_retired();
        return cells.retiring_cells().empty();
    });
    if (!retired)
        kprint("selftest: the old copy of faulty is still retiring: task '{}' refers to it\n", cells.last_stack_referrer());
    SELFTEST_CHECK(retired);
    SELFTEST_CHECK(cells.section_bytes_in_use() == sections_before);
    SELFTEST_CHECK(ticker.ticked_since(ticks));
    auto status = recovery::cell_recovery_status("faulty");
    SELFTEST_CHECK(status.history.reloads == 1 && status.history.faults == 2 && !status.history.quarantined);
    return {};
}

ErrorOr<void> a_cell_that_keeps_faulting_is_quarantined()
{
    TRY(fresh_faulty(test_policy(1, 2)));  // every fault reloads; the third quarantines
    Ticker ticker;
    TRY(ticker.start());
    auto& cells = loader::cell_manager();
    std::uint32_t generation = TRY(cells.cell("faulty")).generation;
    for (int round = 1; round <= 3; ++round) {
        std::uint64_t completed = recovery::recovery_statistics().completed;
        std::uint64_t sequence = next_fault_sequence();
        auto outcome = TRY(call_in_a_task(kDivideByZero));
        SELFTEST_CHECK(outcome.end == TaskEnd::Faulted && outcome.fault.vector == 0);
        auto entry = TRY(logged(sequence));
        SELFTEST_CHECK(entry.recovery == (round < 3 ? RecoveryTaken::CellReloaded : RecoveryTaken::CellQuarantined));
        SELFTEST_CHECK(wait_until([&] { return recovery::recovery_statistics().completed >= completed + 1; }));
    }
    SELFTEST_CHECK(TRY(cells.cell("faulty")).generation == generation + 2);
    SELFTEST_CHECK(cells.is_quarantined("faulty"));
    SELFTEST_CHECK(recovery::cell_recovery_status("faulty").history.quarantined);
    // Its service stopped.
    SELFTEST_CHECK(wait_until([&] { return cells.task_count(cells.id_of("faulty")) == 0; }));
    // Calls into it are refused: the client's call ends the calling task at the refusal routine.
    std::uint64_t ticks = ticker.ticks.load();
    std::uint64_t sequence = next_fault_sequence();
    auto refused = TRY(call_in_a_task(kNoFault));
    SELFTEST_CHECK(refused.end == TaskEnd::Faulted && refused.fault.vector == 6);
    SELFTEST_CHECK(refused.fault.instruction_pointer == reinterpret_cast<std::uint64_t>(&loader::delos_quarantined_cell_called));
    auto entry = TRY(logged(sequence));
    SELFTEST_CHECK(entry.recovery == RecoveryTaken::TaskKilled && contains(StringView(entry.recovery_note), "quarantined"));
    SELFTEST_CHECK(StringView(entry.backtrace[1].owner) == "faulty_client");  // the caller is named
    auto exported = cells.symbol_address(kVersionNumber);
    SELFTEST_CHECK(exported.is_error() && exported.error().code == ErrorCode::PermissionDenied);
    SELFTEST_CHECK(ticker.ticked_since(ticks));
    // A reload by hand (fault-campaign's entry point) lifts the quarantine.
    auto reloaded = cells.reload("faulty");
    SELFTEST_CHECK(!reloaded.is_error());
    SELFTEST_CHECK(!cells.is_quarantined("faulty") && !recovery::cell_recovery_status("faulty").history.quarantined);
    SELFTEST_CHECK(TRY(call_in_a_task(kNoFault)).value == 1);
    return {};
}

ErrorOr<void> a_cell_faulting_right_after_a_swap_is_rolled_back()
{
    TRY(fresh_faulty(test_policy(2, 2)));
    auto& cells = loader::cell_manager();
    const link::LibraryCell* v2 = cells.library()->find_version("faulty.v2");
    SELFTEST_CHECK(v2 != nullptr);
    auto swapped = cells.swap(Vector<link::SwapPair>{link::SwapPair{"faulty", v2->object, true}});
    SELFTEST_CHECK(!swapped.is_error());
    SELFTEST_CHECK((TRY(resolve<Version>(kVersionNumber)))() == 2);
    std::uint32_t generation = TRY(cells.cell("faulty")).generation;
    std::uint64_t completed = recovery::recovery_statistics().completed;
    std::uint64_t sequence = next_fault_sequence();
    auto broken = TRY(call_in_a_task(kNoFault));  // 2.0.0 faults on every call
    SELFTEST_CHECK(broken.end == TaskEnd::Faulted);
    auto entry = TRY(logged(sequence));
    SELFTEST_CHECK(entry.recovery == RecoveryTaken::CellRolledBack && StringView(entry.at.version) == "2.0.0");
    SELFTEST_CHECK(wait_until([&] { return recovery::recovery_statistics().completed >= completed + 1; }));
    SELFTEST_CHECK(wait_until([&] { return cells.live_generation("faulty") == generation + 1; }));
    auto after = TRY(cells.cell("faulty"));
    SELFTEST_CHECK(after.version == "1.0.0");
    SELFTEST_CHECK((TRY(resolve<Version>(kVersionNumber)))() == 1);
    SELFTEST_CHECK(TRY(call_in_a_task(kNoFault)).value >= 1);
    // Clean up for whatever runs next.
    TRY(cells.unload("faulty_client"));
    TRY(cells.unload("faulty"));
    return {};
}

// A caller already calling at full speed when the swap commits: its first call into the new
// version comes the moment the swap's run-alone window closes (the tick held during the window
// switches to it while the swapping task still holds the cell manager's lock), not after swap()
// returned as above. That first fault must find the rollback window open and be judged a rollback.
std::atomic<std::uint64_t> g_racing_calls{0};
ErrorOr<void> a_first_call_racing_the_swap_is_rolled_back()
{
    TRY(fresh_faulty(test_policy(2, 2)));
    auto& cells = loader::cell_manager();
    const link::LibraryCell* v2 = cells.library()->find_version("faulty.v2");
    SELFTEST_CHECK(v2 != nullptr);
    auto call = TRY(resolve<Serve>(kClientCall));
    std::uint32_t generation = TRY(cells.cell("faulty")).generation;
    std::uint64_t completed = recovery::recovery_statistics().completed;
    std::uint64_t sequence = next_fault_sequence();
    g_racing_calls = 0;
    SpawnOptions options;
    options.priority = Priority::High;  // first in line when the window's held tick comes
    auto caller = TRY(spawn("racing-caller", [call]() -> std::uint64_t {
        for (;;) {  // 1.0.0 answers; 2.0.0's first call faults and unwinds this task
            (void)call(kNoFault);
            g_racing_calls.fetch_add(1, std::memory_order_relaxed);
        }
    }, options));
    SELFTEST_CHECK(wait_until([] { return g_racing_calls.load() > 10; }));
    auto swapped = cells.swap(Vector<link::SwapPair>{link::SwapPair{"faulty", v2->object, true}});
    SELFTEST_CHECK(!swapped.is_error());
    auto outcome = caller.join();
    SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
    auto entry = TRY(logged(sequence));
    SELFTEST_CHECK(StringView(entry.at.version) == "2.0.0");
    if (entry.recovery != RecoveryTaken::CellRolledBack)
        kprint("selftest: the racing first call's fault was judged {} ({})\n", static_cast<int>(entry.recovery), entry.recovery_note);
    SELFTEST_CHECK(entry.recovery == RecoveryTaken::CellRolledBack);
    SELFTEST_CHECK(wait_until([&] { return recovery::recovery_statistics().completed >= completed + 1; }));
    SELFTEST_CHECK(wait_until([&] { return cells.live_generation("faulty") == generation + 2; }));
    SELFTEST_CHECK(TRY(cells.cell("faulty")).version == "1.0.0");
    TRY(cells.unload("faulty_client"));
    TRY(cells.unload("faulty"));
    return {};
}

// A loaded cell's code, as a ledger's code range.
ErrorOr<CallLedger::CodeRange> code_of(StringView name)
{
    auto code = TRY(loader::cell_manager().code_range(name));
    return CallLedger::CodeRange{code.address, code.size};
}

// A call opened into faulty_client, with faulty's code as the caller's glue around it: a fault in
// that glue (faulty's null write, reached through the client) is blamed on the cell called,
// faulty_client, as damage it left for the glue. Without the open call, faulty is blamed.
ErrorOr<void> a_fault_in_the_glue_of_an_open_call_blames_the_called_cell()
{
    TRY(fresh_faulty(test_policy(5, 2)));
    CallLedger::CodeRange ranges[2] = {TRY(code_of("faulty_client")), TRY(code_of("faulty"))};
    auto call = TRY(resolve<Serve>(kClientCall));
    for (bool open : {true, false}) {
        std::uint64_t sequence = next_fault_sequence();
        auto handle = TRY(spawn("glue-fault", [ranges, call, open] {
            memory::CallOwnership ledger;
            if (open)
                (void)ledger.open(ranges, 2);
            return call(kNullWrite);
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Faulted);
        auto entry = TRY(logged(sequence));
        SELFTEST_CHECK(StringView(entry.at.owner) == "faulty");
        SELFTEST_CHECK(StringView(entry.recovery_cell) == (open ? "faulty_client" : "faulty"));
    }
    return {};
}

// A call through the cell call gate (runtime/cell_call_gate.h) into faulty whose callee returns
// past the gate (it pops the gate's return address and returns one word too far): it lands on the
// gate's overrun trap (#UD), the unwind resumes at the task's own call of the gate, and the call
// the gate made, still open in the task's save area, has the fault blamed on its callee's cell.
// The same for a callee that jumps to an address that is no code: its caller's frames unwind
// cleanly, all the kernel's here. Without the save area's record no cell is blamed. And for one
// that moved its stack pointer where no return address is in reach before it jumped: no unwind
// at all; a fault at no code inside a gate call ends the task, where it was refused (a panic).
// The same after the callee masked interrupts and trapped in its own code: ended, unmasked.
extern "C" std::uint64_t delos_selftest_gate_callee_to_blame;
std::uint64_t delos_selftest_gate_callee_to_blame;
extern "C" std::uint64_t delos_selftest_gate_argument;  // the callee's first argument
std::uint64_t delos_selftest_gate_argument;
[[gnu::noinline]] void call_the_gate_with_registers_that_are_no_code()
{
    asm volatile(R"(
        movq $0x10, %%rbx
        movq $0x10, %%r12
        movq $0x10, %%r13
        movq $0x10, %%r14
        movq $0x10, %%r15
        movq delos_selftest_gate_callee_to_blame(%%rip), %%rdi
        movq delos_selftest_gate_argument(%%rip), %%rsi
        xorl %%edx, %%edx
        xorl %%ecx, %%ecx
        call delos_cell_call_gate
    )" ::: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc");
}

ErrorOr<void> a_wild_return_or_jump_in_a_gate_call_blames_the_called_cell()
{
    TRY(fresh_faulty(test_policy(5, 2)));
    for (StringView callee : {StringView("faulty_return_past_its_caller"), StringView("faulty_jump_to_no_code"),
                              StringView("faulty_lose_the_way_back"), StringView("faulty_mask_and_lose_the_way_back")}) {
        delos_selftest_gate_callee_to_blame = TRY(loader::cell_manager().symbol_address(callee));
        std::uint64_t sequence = next_fault_sequence();
        {
            auto handle = TRY(spawn("past-the-gate", [] { call_the_gate_with_registers_that_are_no_code(); }));
            auto outcome = handle.join();
            SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
            bool traps = callee == "faulty_return_past_its_caller" || callee == "faulty_mask_and_lose_the_way_back";
            SELFTEST_CHECK(outcome.fault().vector == (traps ? 6u : 14u));
        }
        auto entry = TRY(logged(sequence));
        bool returned_past = callee == "faulty_return_past_its_caller";
        // One word too far: the gate's trap right above the return address, not the word's value.
        auto overrun = reinterpret_cast<std::uint64_t>(delos_cell_call_gate_overrun);
        if (callee != "faulty_mask_and_lose_the_way_back")
            SELFTEST_CHECK(entry.instruction_pointer == (returned_past ? overrun : 0x18u));
        // Lost its way back: nothing unwinds, the task ends without its cleanups; not a panic.
        SELFTEST_CHECK(entry.open_gate_call == delos_selftest_gate_callee_to_blame);
        SELFTEST_CHECK(StringView(entry.recovery_cell) == "faulty");
    }
    return {};
}

// A callee that leaves ring 0 (a corrupted iret: here an iretq to ring 3 at 0x18) costs only its
// task: the exception arrives on the TSS's rsp0 stack, moves onto the task's stack, and
// containment ends the task from the top of its stack, back in ring 0, blamed on the cell
// called. Not in kvm_pvm's native mode, where everything runs at ring 3.
ErrorOr<void> a_task_that_leaves_ring_zero_ends_alone()
{
    if (cpu::native_mode())
        return {};
    TRY(fresh_faulty(test_policy(5, 2)));
    delos_selftest_gate_callee_to_blame = TRY(loader::cell_manager().symbol_address("faulty_leave_ring_zero"));
    Ticker ticker;
    TRY(ticker.start());
    for (std::uint64_t flags : {std::uint64_t(0x200), std::uint64_t(0)}) {  // with interrupts on, and masked
        delos_selftest_gate_argument = flags;
        std::uint64_t sequence = next_fault_sequence();
        {
            auto handle = TRY(spawn("leaves-ring-0", [] { call_the_gate_with_registers_that_are_no_code(); }));
            auto outcome = handle.join();
            SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted && outcome.fault().vector == 14);
        }
        auto entry = TRY(logged(sequence));
        SELFTEST_CHECK(entry.instruction_pointer == 0x18);
        SELFTEST_CHECK(StringView(entry.recovery_cell) == "faulty");
        SELFTEST_CHECK(ticker.ticked_since(ticker.ticks.load()));
    }
    delos_selftest_gate_argument = 0;
    return {};
}

// A task inside a call it opened into faulty (memory/call_ownership.h) jumps to an address that
// is no code at all (a heap object): the unwind starts in the task's own frame, but the fault is
// blamed on the cell it had called, not on the caller's code (a kernel task here: nothing).
ErrorOr<void> a_wild_jump_inside_a_call_blames_the_called_cell()
{
    TRY(fresh_faulty(test_policy(5, 2)));
    auto faulty_code = TRY(code_of("faulty"));
    std::uint64_t code = faulty_code.start, code_size = faulty_code.size;
    auto* nowhere = new std::uint64_t[4]{};
    std::uint64_t sequence = next_fault_sequence();
    {
        auto handle = TRY(spawn("lost-in-a-call", [code, code_size, nowhere] {
            memory::CallOwnership call;
            (void)call.open(code, code_size);
            reinterpret_cast<void (*)()>(nowhere)();
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted && outcome.fault().vector == 14);
    }
    delete[] nowhere;
    auto entry = TRY(logged(sequence));
    SELFTEST_CHECK(entry.at.owner[0] == '\0');
    SELFTEST_CHECK(StringView(entry.recovery_cell) == "faulty");
    SELFTEST_CHECK(memory::CallOwnership::open_count() == 0);  // the unwind closed the call
    // Without an open call the same jump blames no cell (the caller is the kernel's).
    nowhere = new std::uint64_t[4]{};
    sequence = next_fault_sequence();
    {
        auto handle = TRY(spawn("lost-alone", [nowhere] { reinterpret_cast<void (*)()>(nowhere)(); }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Faulted);
    }
    delete[] nowhere;
    entry = TRY(logged(sequence));
    SELFTEST_CHECK(entry.recovery_cell[0] == '\0');
    return {};
}

} // namespace

extern const TestCase kRecoveryTests[] = {
    {"recovery", "restartable_task_is_restarted_with_its_resources_back", restartable_task_is_restarted_with_its_resources_back},
    {"recovery", "a_cell_service_task_is_restarted", a_cell_service_task_is_restarted},
    {"recovery", "a_cell_faulting_again_is_reloaded_fresh", a_cell_faulting_again_is_reloaded_fresh},
    {"recovery", "a_cell_that_keeps_faulting_is_quarantined", a_cell_that_keeps_faulting_is_quarantined},
    {"recovery", "a_cell_faulting_right_after_a_swap_is_rolled_back", a_cell_faulting_right_after_a_swap_is_rolled_back},
    {"recovery", "a_first_call_racing_the_swap_is_rolled_back", a_first_call_racing_the_swap_is_rolled_back},
    {"recovery", "a_wild_jump_inside_a_call_blames_the_called_cell", a_wild_jump_inside_a_call_blames_the_called_cell},
    {"recovery", "a_fault_in_the_glue_of_an_open_call_blames_the_called_cell", a_fault_in_the_glue_of_an_open_call_blames_the_called_cell},
    {"recovery", "a_wild_return_or_jump_in_a_gate_call_blames_the_called_cell", a_wild_return_or_jump_in_a_gate_call_blames_the_called_cell},
    {"recovery", "a_task_that_leaves_ring_zero_ends_alone", a_task_that_leaves_ring_zero_ends_alone},
};
extern const std::size_t kRecoveryTestCount = sizeof kRecoveryTests / sizeof kRecoveryTests[0];

} // namespace delos::selftest
