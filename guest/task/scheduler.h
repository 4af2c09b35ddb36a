// scheduler.h: preemptive weighted-fair scheduling of tasks on this CPU, driven by the local
// APIC timer. Policy (docs/tasks-and-scheduling.md): the ready task with the least virtual
// runtime runs next; virtual runtime grows with CPU time divided by the priority's weight, so
// every ready task eventually has the least and none starves; a running task is preempted
// after a time slice when another is ready. Per-CPU state is one Processor; nothing here
// assumes there is only one.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "sync/spin_lock.h"
#include "task/task.h"

namespace delos::task::scheduler {

inline constexpr std::uint64_t kTimeSliceNanoseconds = 10'000'000;

// Turns the calling context (kernel_main) into the task "kernel_main", creates this CPU's idle
// task, programs the local APIC timer, installs the ownership hooks of the heap and
// MappedPages, and enables interrupts.
ErrorOr<void> start();
bool started();

Task* current_task();
TaskId current_task_id();
// The CPU's idle task never ends (fault containment leaves it alone).
bool is_idle_task(const Task* task);

// Lets every ready task that is owed more CPU time run first; returns at once if none is ready.
void yield();
// Blocks the current task for at least `nanoseconds` (granularity: the timer's, not a slice).
void sleep_for(std::uint64_t nanoseconds);

// For wait queues: `lock` is held with interrupts off; the current task is marked blocked,
// `lock` released, and another task runs until wake(current) is called.
void block_current_releasing(SpinLock& lock);
// Makes a blocked task ready (no effect on a task in any other state).
void wake(Task* task);

// The first thing a new task does (task_entry.cpp): release the lock the switch handed over.
void finish_first_switch();
// Queues a freshly prepared task (spawn.cpp).
void make_ready_new(Task* task);
// Ends the current task after its entry returned and it released what it owned (task_entry.cpp).
[[noreturn]] void exit_current();

// While alive, what the current task allocates is charged to the kernel, not to the task
// (task records, stacks, scheduler structures).
class ChargeToKernel {
public:
    ChargeToKernel();
    ~ChargeToKernel();
    ChargeToKernel(const ChargeToKernel&) = delete;
    ChargeToKernel& operator=(const ChargeToKernel&) = delete;

private:
    Task* m_task;
};

struct Statistics {
    std::uint64_t context_switches;
    std::uint64_t preemptions;      // switches forced by the timer
    std::uint64_t timer_interrupts;
    std::uint64_t timer_armings;    // MSR/MMIO writes to the timer (each is a VM exit)
    std::uint64_t ready_tasks;
    std::uint64_t sleeping_tasks;
};
Statistics statistics();

} // namespace delos::task::scheduler
