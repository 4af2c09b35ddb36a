// task.h: a task: one closure running on its own guarded stack, with its scheduling state, the
// resources it holds (counted), task-local values, and its identity (id, name, the cell it runs in).
// The scheduler (scheduler.h) decides when it runs; spawn.h creates it; join_handle.h ends it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lib/core/function.h"
#include "lib/core/string_view.h"
#include "memory/kernel_stack.h"
#include "runtime/cell_call_gate.h"
#include "sync/spin_lock.h"
#include "task/wait_queue.h"

namespace delos::task {

// Low bits: a slot in the task registry; high bits: a generation, so ids are not reused soon.
// 0 is "the kernel" (no task), which is also what the heap records for kernel-owned memory.
using TaskId = std::uint32_t;
inline constexpr TaskId kKernelOwner = 0;

// The cell a task runs in: the cell loader numbers every loaded cell (never reusing a number);
// 0 is the kernel image. See spawn.h for how a new task's cell is chosen.
using CellId = std::uint64_t;
inline constexpr CellId kKernelCell = 0;
inline constexpr CellId kCellFromCode = ~CellId(0);  // SpawnOptions: "decide from the closure's code"

enum class TaskState : std::uint8_t {
    Ready,     // in its processor's run queue
    Running,   // on a CPU now
    Blocked,   // in a wait queue
    Sleeping,  // in its processor's sleep queue until a deadline
    Dead,      // returned (or ended otherwise); its stack is released, its record waits for join
};
const char* task_state_name(TaskState);

// The lowest 12 KiB of a task's stack (half of a smaller one) are kept for what runs after a
// checked prologue finds it exhausted: the exception, its containment and the unwinder (whose walk
// of the unwind tables alone takes ~8 KiB).
inline constexpr std::uint64_t kStackOverflowReserve = 12288;

class Mutex;

// Why a lock wait was ended from outside (lock_waits.h): the waiting task is unwound as a DEADLOCK
// fault from its wait point (the TaskFault's error code says which).
enum class LockWaitEnd : std::uint8_t {
    None = 0,
    Cycle = 1,    // its wait closed, or was part of, a cycle of tasks waiting for each other's locks
    Timeout = 2,  // it waited for the lock longer than the lock-wait budget
};

// A task inside Mutex::lock's wait loop: an edge "this task waits for `mutex`'s owner" of the
// wait-for graph. Guarded by lock_waits' graph lock, like every Mutex's owner and wait queue.
struct LockWait {
    Mutex* mutex = nullptr;            // null: not waiting for a lock
    std::uint64_t caller = 0;          // the code that asked for the lock (the cell's, if interruptible)
    std::uint64_t started_tsc = 0;
    std::uint64_t deadline_tsc = ~0ull;  // interruptible waits: when the lock-wait budget runs out
    bool interruptible = false;        // may be ended and unwound (a cell's own lock, see lock_waits.h)
    LockWaitEnd end = LockWaitEnd::None;  // set by whoever chose this task as the victim
    LockWaitEnd at_deadline = LockWaitEnd::Timeout;  // what the deadline ends it as (a retry keeps its reason)
    Task* previous = nullptr;          // the list of tasks waiting for a lock
    Task* next = nullptr;
};
inline std::uint64_t stack_limit_for(const memory::KernelStack& stack)
{
    std::uint64_t usable = stack.top() - stack.bottom();
    return stack.bottom() + (usable >= 2 * kStackOverflowReserve ? kStackOverflowReserve : usable / 2);
}

// Scheduling weight: a ready task of each level gets CPU time in proportion 1 : 4 : 16.
enum class Priority : std::uint8_t { Low, Normal, High };
const char* priority_name(Priority);

// How a task ended. Faulted/Killed are produced once fault recovery unwinds tasks (docs/unwinding.md).
enum class TaskEnd : std::uint8_t { Returned, Faulted, Killed };
const char* task_end_name(TaskEnd);

inline constexpr std::size_t kTaskLocalSlots = 16;
inline constexpr std::size_t kTaskNameLength = 32;
inline constexpr std::size_t kInlineResultSize = 48;

// A CPU exception a task took and was unwound from (fault_containment.h); sequence 0 = none.
struct TaskFault {
    std::uint64_t vector = 0;
    std::uint64_t error_code = 0;
    std::uint64_t instruction_pointer = 0;
    std::uint64_t fault_address = 0;  // CR2 for page faults
    std::uint64_t sequence = 0;       // 1, 2, ... in the order faults were contained
    std::uint32_t frames = 0;         // frames unwound
    std::uint32_t landing_pads = 0;   // landing pads entered (where the destructors ran)
};

// What a task still held when it ended; a task that released everything reports zeros.
struct OwnershipAtEnd {
    std::int64_t heap_bytes = 0;
    std::int64_t frames = 0;
};

class Task {
public:
    Task(StringView name, Priority priority);
    ~Task();
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;

    TaskId id() const { return m_id; }
    const char* name() const { return m_name; }
    Priority priority() const { return m_priority; }
    TaskState state() const { return m_state; }
    CellId cell() const { return m_cell; }
    std::uint64_t entry_address() const { return m_entry_address; }

    // Everything below belongs to the scheduler, spawn and join machinery.
    TaskId m_id = kKernelOwner;
    char m_name[kTaskNameLength] = {};
    Priority m_priority;
    std::atomic<TaskState> m_state{TaskState::Ready};
    CellId m_cell = 0;
    std::uint64_t m_entry_address = 0;

    // Execution.
    std::uint64_t m_saved_stack_pointer = 0;  // valid while not running (see context_switch.h)
    memory::KernelStack m_stack;              // empty for the boot task, which runs on the boot stack
    // The split-stack limit (arch/x86_64/stack_limit.h) while not running; the scheduler swaps it
    // with the CPU's at each switch. 0 = unchecked (boot and idle tasks; after an overflow).
    std::uint64_t m_stack_limit = 0;
    // The cell call gate's copies of what it restores after each open call (runtime/cell_call_gate.h),
    // off the stack; its cursor is swapped with the CPU's at each switch like the stack limit.
    runtime::CellCallSaveArea m_cell_calls;
    UniqueFunction<void(Task&)> m_entry;      // stores its result into m_result

    // Scheduling (scheduler.cpp): virtual runtime for weighted fair queueing, queue links.
    std::uint64_t m_virtual_runtime = 0;
    std::uint64_t m_enqueue_sequence = 0;
    std::uint64_t m_slice_start_tsc = 0;
    std::uint64_t m_wake_deadline_tsc = 0;
    // Watchdog (watchdog.h): CPU time since the task last waited, its budget (0 = not watched),
    // and when the tick may try again after finding it where it could not be unwound.
    std::uint64_t m_run_ticks_since_wait = 0;
    std::uint64_t m_watchdog_budget_ticks = 0;
    std::uint64_t m_watchdog_retry_tsc = 0;
    Task* m_heap_child = nullptr;    // run queue / sleep queue (pairing heap) links
    Task* m_heap_sibling = nullptr;
    Task* m_wait_next = nullptr;     // wait queue link
    LockWait m_lock_wait;            // while waiting for a Mutex (lock_waits.h)
    std::uint32_t m_charge_to_kernel_depth = 0;  // > 0: allocations are the kernel's, not this task's

    // Task-local storage (task_local.h): values and how to destroy them at exit.
    void* m_local_values[kTaskLocalSlots] = {};
    void (*m_local_destructors[kTaskLocalSlots])(void*) = {};

    // Fault containment (fault_containment.cpp): the faulting frame's registers (DWARF order)
    // until the unwind starts, and whether it runs (a fault during it abandons the landing pad it
    // hit, if that pad's frame is a cell's, else it cannot be contained).
    TaskFault m_fault;
    bool m_unwinding = false;
    bool m_fault_unmask = false;     // the fault came with interrupts masked by the cell: unmask to unwind
    void* m_forced_unwind = nullptr;  // the unwind in progress (unwinding::ForcedUnwind)
    std::uint64_t m_fault_registers[17] = {};
    // task::Mutex locks this task holds (mutex.cpp; only the task itself changes it): a task with
    // one held is never ended without an unwind, which would leave the lock held for good.
    std::uint32_t m_mutexes_held = 0;

    // Ending and joining.
    std::atomic<std::uint32_t> m_references{1};  // the scheduler's; spawn adds the join handle's
    TaskEnd m_end = TaskEnd::Returned;
    OwnershipAtEnd m_ownership_at_end;
    SpinLock m_join_lock;
    bool m_finished = false;  // guarded by m_join_lock; set when the entry has returned and released
    WaitQueue m_joiners;
    alignas(16) unsigned char m_result[kInlineResultSize];
    void (*m_destroy_result)(void*) = nullptr;  // set while m_result holds a value

    void add_reference() { m_references.fetch_add(1, std::memory_order_relaxed); }
    // Frees the task when the last reference goes.
    void drop_reference();
};

} // namespace delos::task
