// supervisor.h: how the fault-campaign workloads survive faults in their target cell. Worker
// tasks run the target's code; the supervisor restarts a worker that ended Faulted, reloads the
// target from its pristine object when it faults again soon after or answers wrong, and gives up
// on a worker stuck inside one item (a hang: counted, never hidden); a worker that keeps faulting
// without finishing an item gets a reloaded target. Clients retry on their own.
// A cell that keeps faulting is reloaded by the kernel's recovery policy (docs/fault-recovery.md:
// two faults within a second); the supervisor reloads only for what the kernel cannot see, a
// wrong answer or a worker stuck past the watchdog.
#pragma once

#include <atomic>
#include <cstdint>

#include "lib/core/call_ledger.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "sync/spin_lock.h"
#include "task/join_handle.h"

namespace delos::fault_workload {

struct RecoveryStatistics {
    std::uint64_t faults = 0;           // workers that ended Faulted
    std::uint64_t restarts = 0;         // workers spawned again
    std::uint64_t reloads = 0;          // the target re-created from its pristine object
    std::uint64_t reload_failures = 0;
    std::uint64_t wrong_answers = 0;    // answers the clients' checks refused
    std::uint64_t hung = 0;             // workers given up on (still running somewhere)
    std::uint64_t released = 0;         // objects and page runs a call into the target left behind, released
    std::uint64_t released_bytes = 0;   // (memory/call_ownership.h)
};

// The cell faults are injected into, and how it is healed. reload() is the kernel's
// CellManager::reload: a fresh copy from the pristine object in the boot archive (a new
// generation; its dependents, this driver's call sites, are re-pointed). Not a swap: the recovery
// policy rolls a cell back when it faults within 10 s of a swap, and counts reloads in a row.
// A loaded cell's code: its text sections, from the first to the end of the last.
ErrorOr<CallLedger::CodeRange> code_range_of(StringView cell);

class TargetCell {
public:
    explicit TargetCell(StringView name) : m_name(name) {}
    StringView name() const { return m_name; }
    ErrorOr<void> reload();
    // The target's code now (its text sections, from the first to the end of the last): what a
    // call's ledger charges (memory/call_ownership.h). Asked per call: a reload moves it.
    // Cached while the code at the range is still the same loaded cell (cheap: cell_at only).
    ErrorOr<CallLedger::CodeRange> code_range();

private:
    StringView m_name;
    SpinLock m_cache_lock;
    CallLedger::CodeRange m_cached_range;
    std::uint64_t m_cached_cell = 0;  // the CellId (one per loaded generation) the range belongs to
};

class WorkerSlot;
using WorkerBody = void (*)(void* context, WorkerSlot& slot);
// Called by the supervisor once a worker has ended Faulted, before it is spawned again: releases
// what the worker was serving (held outside its stack frame, see request_service.h).
using WorkerCleanup = void (*)(void* context, WorkerSlot& slot);

// One supervised worker: a task running `body(context, slot)` until its input closes.
class WorkerSlot {
public:
    // The worker says when it starts and ends one item, so a worker stuck in one is seen.
    void begin_item();
    void end_item() { busy_since.store(0, std::memory_order_release); }
    // After a refused answer the supervisor replaces every worker (see note_wrong_answer): a
    // worker returns when this says so, between items, and is spawned again afresh.
    bool should_retire() const { return retire.load(std::memory_order_acquire); }
    // Its position among the supervisor's workers (0..kMaxWorkers-1).
    std::size_t index() const { return slot_index; }

private:
    friend class Supervisor;
    StringView name;
    WorkerBody body = nullptr;
    WorkerCleanup cleanup = nullptr;
    void* context = nullptr;
    std::size_t slot_index = 0;
    task::JoinHandle<void> handle;
    std::atomic<std::uint64_t> busy_since{0};
    std::atomic<bool> retire{false};
    bool done = false;
    // The supervisor's own: faulted incarnations in a row, none of which but the first got past
    // its first item, and the target's generation when the current incarnation was spawned.
    std::uint32_t faults_without_progress = 0;
    std::uint32_t target_generation_at_spawn = 0;
    // Items this incarnation of the worker began: a second begun means the first one ended
    // (counted in begin_item, out of line: the workers' own code is what it was).
    std::atomic<std::uint64_t> items_begun{0};
};

class Supervisor {
public:
    static constexpr std::size_t kMaxWorkers = 4;
    static constexpr std::uint64_t kHangNs = 3'000'000'000;           // one item longer than this: hung
    // A worker restarted after a fault that faults again before it finishes one item makes no
    // progress: the target it calls is broken for good (its code or constants corrupted), in a way
    // the kernel's policy may not see (the fault's address lies in no cell's code, or its unwind
    // had to skip the target's frames, so no fault is blamed on the target). The target is
    // reloaded before the next restart, unless something reloaded it meanwhile.
    static constexpr std::uint32_t kFaultsWithoutProgressBeforeReload = 2;

    explicit Supervisor(TargetCell& target) : m_target(target) {}
    ~Supervisor();

    ErrorOr<void> add_worker(StringView name, WorkerBody body, void* context, WorkerCleanup cleanup = nullptr);
    ErrorOr<void> start();
    // A client's check refused an answer: the target may be corrupted, reload it; and the worker
    // may be (a fault in the target can leave a wrong value in a register or stack slot of the
    // worker's frame that it keeps using without faulting), so every worker is replaced too.
    void note_wrong_answer();
    // Call once the workers' inputs are closed: waits until every worker returned (a worker
    // still running kHangNs later is given up on and counted hung), then stops the supervision.
    void finish();
    RecoveryStatistics statistics() const { return m_statistics; }
    TargetCell& target() { return m_target; }
    // What closing a call's ledger released (from a worker or the supervisor's cleanup).
    void note_released(std::uint64_t objects, std::uint64_t bytes);

private:
    void supervise();
    bool poll(bool stopping);
    ErrorOr<void> spawn_worker(WorkerSlot& slot);
    // After `slot`'s worker ended Faulted: whether it made no progress again (reload the target).
    bool note_fault_without_progress(WorkerSlot& slot);
    void reload_target();

    TargetCell& m_target;
    WorkerSlot m_slots[kMaxWorkers];
    std::size_t m_slot_count = 0;
    task::JoinHandle<void> m_task;
    std::atomic<bool> m_stopping{false};
    std::atomic<std::uint64_t> m_wrong_pending{0};
    std::uint64_t m_stopping_since_ns = 0;
    RecoveryStatistics m_statistics;
};

} // namespace delos::fault_workload
