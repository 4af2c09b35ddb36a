// recovery_service.cpp: the decider in the exception hook (blame a cell, consult its policy and
// history, mark the report) and the service task that restarts, reloads, rolls back and
// quarantines once the faulted task has ended.
#include "recovery_policy/recovery_service.h"

#include "runtime/cell_call_gate.h"

#include "arch/x86_64/tsc.h"
#include "lib/core/format.h"
#include "linker/kernel/cell_manager.h"
#include "log/kernel_log.h"
#include "memory/call_ownership.h"
#include "recovery/fault_containment.h"
#include "recovery/fault_log.h"
#include "recovery_policy/cell_records.h"
#include "recovery_policy/restartable_tasks.h"
#include "sync/spin_lock.h"
#include "task/join_handle.h"
#include "task/semaphore.h"
#include "task/spawn.h"

namespace delos::recovery {

namespace {

// How long a cell's service tasks get to stop before its code is replaced or quarantined.
constexpr std::uint64_t kServiceStopWaitNs = 200'000'000;

struct Notice {
    task::Task* task = nullptr;  // holds a reference until the service has seen it end
    std::uint64_t sequence = 0;
    char cell[kCellNameLength] = {};
    CellAction cell_action = CellAction::None;
    RestartableId restartable = 0;
    bool restart = false;
};

constexpr std::size_t kQueueCapacity = 64;
SpinLock g_queue_lock;
Notice g_queue[kQueueCapacity];
std::size_t g_queue_head = 0, g_queue_size = 0;
task::Semaphore g_work;

SpinLock g_statistics_lock;
RecoveryStatistics g_statistics;

template <typename Update>
void count(Update update)
{
    SpinLockGuard guard(g_statistics_lock);
    update(g_statistics);
}

template <std::size_t N>
void copy_name(char (&out)[N], StringView name)
{
    std::size_t size = name.size() < N - 1 ? name.size() : N - 1;
    for (std::size_t i = 0; i < size; ++i)
        out[i] = name[i];
    out[size] = '\0';
}

bool is_cell(const char* owner) { return owner[0] != '\0' && StringView(owner) != "kernel"; }

// The innermost frame that is a cell's code: the faulting instruction's, else the nearest
// caller's (a cell passed something bad to the kernel); nullptr if none is.
const task::FaultLogCode* innermost_cell_frame(const task::FaultLogEntry& entry)
{
    if (is_cell(entry.at.owner))
        return &entry.at;
    for (std::uint32_t i = 0; i < entry.backtrace_frames; ++i) {
        if (is_cell(entry.backtrace[i].owner))
            return &entry.backtrace[i];
    }
    return nullptr;
}

// The cell a fault is blamed on: the innermost frame that is a cell's code (the faulting
// instruction's, or the nearest caller's when a cell passed something bad to the kernel). An
// instruction in a cell's code region but in none of its functions (a corrupted jump landed
// between them or past the last) is that cell's too, not its caller's. A fault outside any code
// whose unwind had to skip frames (a corrupted `ret` or return address) is the cell's whose
// code the skipped frames ran: the one the call they returned towards went to (`code_owner`
// holds the name), not the caller's, which only called it. A fault outside any code inside a
// call through the cell call gate that is still open is the called cell's (a wild jump of the
// callee: its caller's frames unwind cleanly above it, and would be blamed), and so is the trap
// the gate leaves above its callee's return address (a callee that returned one word too far).
StringView blamed_cell(const task::FaultLogEntry& entry, char (&code_owner)[kCellNameLength])
{
    if (is_cell(entry.at.owner))
        return StringView(entry.at.owner);
    auto& cells = loader::cell_manager();
    if (entry.at.owner[0] == '\0' && cells.copy_name_of_cell_at(entry.instruction_pointer, code_owner, sizeof code_owner))
        return StringView(code_owner);
    if (entry.at.owner[0] == '\0' && entry.skipped_call_target != 0
        && cells.copy_name_of_cell_at(entry.skipped_call_target, code_owner, sizeof code_owner))
        return StringView(code_owner);
    bool overran_the_gate = entry.instruction_pointer == reinterpret_cast<std::uint64_t>(delos_cell_call_gate_overrun);
    if ((entry.at.owner[0] == '\0' || overran_the_gate) && entry.open_gate_call != 0
        && cells.copy_name_of_cell_at(entry.open_gate_call, code_owner, sizeof code_owner))
        return StringView(code_owner);
    const task::FaultLogCode* innermost = innermost_cell_frame(entry);
    return innermost ? StringView(innermost->owner) : StringView();
}

// Inside a call a task opened into a cell (memory/call_ownership.h), the called cell is blamed
// for a fault:
// - at an address that is no code at all (a wild jump or return: the unwind then starts in a
//   caller, whose cell did nothing wrong);
// - whose innermost cell frame is the caller's own code around the call, which it opened the
//   call with (the glue that only calls the cell and keeps nothing): damage the cell left there
//   (a caller's object it freed, a word of the caller's frame it overwrote) shows when that code
//   goes on, and the caller would be reloaded for it.
StringView cell_blamed_for_its_call(task::Task& task, const task::FaultLogEntry& entry, char (&called)[kCellNameLength])
{
    std::uint64_t code = memory::open_call_target_code(task.id());
    if (code == 0 || !loader::cell_manager().copy_name_of_cell_at(code, called, sizeof called))
        return StringView();
    if (entry.at.owner[0] == '\0')
        return StringView(called);
    const task::FaultLogCode* innermost = innermost_cell_frame(entry);
    if (innermost && StringView(innermost->owner) != StringView(called)
        && memory::open_call_charges_code(task.id(), innermost->address))
        return StringView(called);
    return StringView();
}

std::uint64_t milliseconds(std::uint64_t ns) { return ns / 1'000'000; }

// The exception hook's part: interrupts are masked and the faulting task's stack is in use.
void decide(task::Task& task, task::FaultLogEntry& entry)
{
    std::uint64_t now = tsc::nanoseconds_since_boot();
    FixedBufferSink note(entry.recovery_note, sizeof entry.recovery_note - 1);
    bool refused_call = entry.instruction_pointer == reinterpret_cast<std::uint64_t>(&loader::delos_quarantined_cell_called);
    char code_owner[kCellNameLength] = {};
    char called[kCellNameLength] = {};
    StringView lost_in = refused_call ? StringView() : cell_blamed_for_its_call(task, entry, called);
    StringView cell = refused_call ? StringView() : (!lost_in.empty() ? lost_in : blamed_cell(entry, code_owner));
    // Only a committed cell is reloaded or rolled back; a fault in a loading cell's init fails its load.
    std::uint32_t generation = cell.empty() ? 0 : loader::cell_manager().live_generation(cell);
    CellDecision decision;
    RecoveryPolicy policy = default_policy();
    if (generation != 0) {
        std::uint64_t faults = 0;
        decision = record_cell_fault(cell, now, policy, faults);
        copy_name(entry.recovery_cell, cell);
        entry.cell_faults = static_cast<std::uint32_t>(faults);
        entry.cell_generation = generation;
    }

    RestartableId restartable = restartable_of(task.id());
    const char* service_cell = "";
    bool restart = restartable != 0 && decide_task_restart(restartable, now, &service_cell);
    bool cell_changes = decision.action == CellAction::Reload || decision.action == CellAction::Rollback
        || decision.action == CellAction::Quarantine;
    if (restart && cell_changes && StringView(service_cell) == cell)
        restart = false;  // the cell's service: stopped with its cell; the new copy's init starts it again

    switch (decision.action) {
    case CellAction::Reload:
        entry.recovery = task::RecoveryTaken::CellReloaded;
        format_to(note, "cell {} reloaded from its pristine object ({} faults within {} ms; reload {} of {} in a row)", cell,
                  decision.faults_in_window, milliseconds(policy.window_ns), decision.reload_number, policy.max_reloads);
        break;
    case CellAction::Rollback:
        entry.recovery = task::RecoveryTaken::CellRolledBack;
        format_to(note, "cell {} rolled back to its previous generation (it faulted within {} ms of a swap)", cell,
                  milliseconds(policy.rollback_window_ns));
        break;
    case CellAction::Quarantine:
        entry.recovery = task::RecoveryTaken::CellQuarantined;
        format_to(note, "cell {} quarantined: it kept faulting after {} reloads; its services stop and calls into it are refused",
                  cell, policy.max_reloads);
        break;
    case CellAction::Refused:
        format_to(note, "cell {} is quarantined", cell);
        break;
    case CellAction::None:
        if (refused_call)
            format_to(note, "a call into a quarantined cell was refused");
        else if (!cell.empty() && generation != 0 && decision.reload_pending)
            format_to(note, "cell {}: its reload is under way (a fault of the copy being replaced)", cell);
        else if (!cell.empty() && generation != 0)
            format_to(note, "cell {}: {} fault(s) within {} ms (a reload at {})", cell, decision.faults_in_window,
                      milliseconds(policy.window_ns), policy.reload_after_faults);
        break;
    }
    if (restart) {
        if (entry.recovery == task::RecoveryTaken::TaskKilled)
            entry.recovery = task::RecoveryTaken::TaskRestarted;
        format_to(note, "{}task {} is restarted", note.view().empty() ? "" : "; ", task.name());
    } else if (restartable != 0 && !cell_changes) {
        format_to(note, "{}task {} is not restarted (restart limit reached or stopping)", note.view().empty() ? "" : "; ", task.name());
    }
    if (task::fault_console_reports())
        kprint("  recovery: {}\n", note.view().empty() ? StringView("the task ends faulted") : note.view());

    count([&](RecoveryStatistics& statistics) {
        ++statistics.decided;
        statistics.refused_calls += refused_call ? 1 : 0;
    });
    if (!cell_changes && restartable == 0)
        return;
    SpinLockGuard guard(g_queue_lock);
    if (g_queue_size == kQueueCapacity) {
        kprint("  recovery: the recovery queue is full; this fault's action is dropped\n");
        count([](RecoveryStatistics& statistics) { ++statistics.failures; });
        return;
    }
    Notice& notice = g_queue[(g_queue_head + g_queue_size++) % kQueueCapacity];
    notice = Notice{};
    task.add_reference();
    notice.task = &task;
    notice.sequence = entry.sequence;
    copy_name(notice.cell, cell);
    notice.cell_action = decision.action;
    notice.restartable = restartable;
    notice.restart = restart;
    g_work.release();
}

void carry_out(Notice& notice)
{
    // The faulted task first finishes unwinding and releasing what it held.
    task::wait_for_end(*notice.task);
    notice.task->drop_reference();
    notice.task = nullptr;
    StringView cell(notice.cell);
    auto& cells = loader::cell_manager();
    switch (notice.cell_action) {
    case CellAction::Reload: {
        auto reloaded = cells.reload(cell);
        if (reloaded.is_error()) {
            kprint("recovery: fault #{}: reloading cell {} failed: {}: {}\n", notice.sequence, cell, reloaded.error().message,
                   reloaded.error().explanation());
            count([](RecoveryStatistics& statistics) { ++statistics.failures; });
        } else {
            if (task::fault_console_reports())
                kprint("recovery: fault #{}: cell {} reloaded (generation {}, {} us)\n", notice.sequence, cell,
                       reloaded.value().cells.empty() ? 0u : reloaded.value().cells[0].new_generation, reloaded.value().total_ns / 1000);
            count([](RecoveryStatistics& statistics) { ++statistics.reloads; });
        }
        break;
    }
    case CellAction::Rollback: {
        auto rolled = cells.rollback(cell);
        if (rolled.is_error()) {
            kprint("recovery: fault #{}: rolling cell {} back failed: {}: {}\n", notice.sequence, cell, rolled.error().message,
                   rolled.error().explanation());
            count([](RecoveryStatistics& statistics) { ++statistics.failures; });
        } else {
            kprint("recovery: fault #{}: cell {} rolled back to {} (generation {})\n", notice.sequence, cell,
                   rolled.value().cells.empty() ? StringView() : rolled.value().cells[0].new_version.view(),
                   rolled.value().cells.empty() ? 0u : rolled.value().cells[0].new_generation);
            count([](RecoveryStatistics& statistics) { ++statistics.rollbacks; });
        }
        break;
    }
    case CellAction::Quarantine: {
        auto quarantined = cells.quarantine(cell);
        if (quarantined.is_error()) {
            kprint("recovery: fault #{}: quarantining cell {} failed: {}: {}\n", notice.sequence, cell, quarantined.error().message,
                   quarantined.error().explanation());
            count([](RecoveryStatistics& statistics) { ++statistics.failures; });
        } else {
            kprint("recovery: fault #{}: cell {} quarantined ({} references to its code now refuse)\n", notice.sequence, cell,
                   quarantined.value());
            count([](RecoveryStatistics& statistics) { ++statistics.quarantines; });
        }
        break;
    }
    case CellAction::None:
    case CellAction::Refused:
        break;
    }
    if (notice.restart) {
        auto restarted = restart(notice.restartable);
        if (restarted.is_error()) {
            kprint("recovery: fault #{}: the task could not be restarted: {}\n", notice.sequence, restarted.error().message);
            count([](RecoveryStatistics& statistics) { ++statistics.failures; });
        } else {
            count([](RecoveryStatistics& statistics) { ++statistics.restarts; });
        }
    }
    if (notice.restartable != 0)
        release_if_done(notice.restartable);
}

[[noreturn]] void serve()
{
    for (;;) {
        g_work.acquire();
        Notice notice;
        {
            SpinLockGuard guard(g_queue_lock);
            if (g_queue_size == 0)
                continue;
            notice = g_queue[g_queue_head];
            g_queue_head = (g_queue_head + 1) % kQueueCapacity;
            --g_queue_size;
        }
        carry_out(notice);
        count([](RecoveryStatistics& statistics) { ++statistics.completed; });
    }
}

void before_cell_change(StringView cell, loader::CellChange change)
{
    // An unload needs the cell's tasks gone (it is refused while they run): wait for them. A
    // swap, rollback, reload or quarantine does not: the old services see the stop at their next
    // pause and end in the old code, which stays retiring until they have left it, while the new
    // copy's init starts its own at once.
    (void)stop_cell_services(cell, change == loader::CellChange::Unload ? kServiceStopWaitNs : 0);
}

// Inside the change (interrupts masked): note_cell_change only takes cell_records' spin lock.
void cell_change_committed(StringView cell, loader::CellChange change, std::uint32_t, bool previous_kept)
{
    note_cell_change(cell, change, tsc::nanoseconds_since_boot(), previous_kept);
}

} // namespace

ErrorOr<void> start_recovery_service()
{
    loader::cell_manager().set_change_hooks({before_cell_change, cell_change_committed});
    task::set_fault_recovery_decider(decide);
    task::SpawnOptions options;
    options.priority = task::Priority::High;  // recovery goes before the work it recovers
    auto handle = TRY(task::spawn("recovery", [] { serve(); }, options));
    handle.detach();
    return {};
}

RecoveryStatistics recovery_statistics()
{
    SpinLockGuard guard(g_statistics_lock);
    return g_statistics;
}

} // namespace delos::recovery
