// scheduler.cpp: the per-CPU run queue and sleep queue, the switch path, and the timer tick.
#include "task/scheduler.h"

#include <utility>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/stack_limit.h"
#include "apic/local_apic.h"
#include "arch/x86_64/tsc.h"
#include "log/panic.h"
#include "memory/heap.h"
#include "memory/mapped_pages.h"
#include "sync/stop_machine.h"
#include "task/context_switch.h"
#include "task/lock_waits.h"
#include "task/stack_cache.h"
#include "task/task_heap.h"
#include "task/task_registry.h"
#include "task/watchdog.h"

namespace delos::task::scheduler {

namespace {

constexpr std::uint64_t kWeightNormal = 1024;

std::uint64_t weight_of(Priority priority)
{
    switch (priority) {
    case Priority::Low: return kWeightNormal / 4;
    case Priority::Normal: return kWeightNormal;
    case Priority::High: return kWeightNormal * 4;
    }
    return kWeightNormal;
}

struct RunsFirst {
    bool operator()(const Task* a, const Task* b) const
    {
        if (a->m_virtual_runtime != b->m_virtual_runtime)
            return a->m_virtual_runtime < b->m_virtual_runtime;
        return a->m_enqueue_sequence < b->m_enqueue_sequence;
    }
};

struct WakesFirst {
    bool operator()(const Task* a, const Task* b) const { return a->m_wake_deadline_tsc < b->m_wake_deadline_tsc; }
};

// One per CPU. Its lock guards everything in it and the state of the tasks it runs; it is held
// across a switch and released by the task switched to (so RFLAGS.IF follows each task).
struct Processor {
    SpinLock lock;
    Task* current = nullptr;
    Task* idle = nullptr;
    TaskHeap<RunsFirst> ready;
    TaskHeap<WakesFirst> sleepers;
    std::uint64_t min_virtual_runtime = 0;  // never decreases: new and woken tasks start here
    std::uint64_t sequence = 0;
    std::uint64_t timer_deadline = 0;       // armed TSC deadline, 0 = not armed
    std::uint64_t slice_ticks = 0;
    Task* dead = nullptr;                   // ended on this CPU; reaped by the next task to run
    Statistics stats{};
};

Processor g_processor;
bool g_started = false;

Processor& this_cpu() { return g_processor; }

void enqueue_ready(Processor& cpu, Task* task)
{
    task->m_state.store(TaskState::Ready, std::memory_order_relaxed);
    task->m_enqueue_sequence = ++cpu.sequence;
    cpu.ready.push(task);
}

// When the running task's watchdog budget runs out (~0 if it is not watched).
std::uint64_t watchdog_deadline(const Task* task)
{
    if (!task || task->m_watchdog_budget_ticks == 0)
        return ~0ull;
    std::uint64_t used = task->m_run_ticks_since_wait;
    std::uint64_t left = used >= task->m_watchdog_budget_ticks ? 0 : task->m_watchdog_budget_ticks - used;
    std::uint64_t deadline = task->m_slice_start_tsc + left;
    return deadline > task->m_watchdog_retry_tsc ? deadline : task->m_watchdog_retry_tsc;
}

// Arms the timer for the earliest of the running task's watchdog deadline, the current slice's end (if someone is waiting to run),
// the first sleeper's deadline and the first lock-wait deadline. Arming costs a VM exit, so only an earlier deadline re-arms.
void rearm_timer(Processor& cpu)
{
    std::uint64_t wanted = ~0ull;
    if (!cpu.ready.empty())
        wanted = cpu.current->m_slice_start_tsc + cpu.slice_ticks;
    if (!cpu.sleepers.empty() && cpu.sleepers.peek()->m_wake_deadline_tsc < wanted)
        wanted = cpu.sleepers.peek()->m_wake_deadline_tsc;
    if (std::uint64_t watchdog = watchdog_deadline(cpu.current); watchdog < wanted)
        wanted = watchdog;
    // A task blocked on a cell's lock past the lock-wait budget is ended from the tick (lock_waits.h).
    if (std::uint64_t lock_wait = lock_waits::next_deadline(); lock_wait < wanted)
        wanted = lock_wait;
    if (wanted == ~0ull || (cpu.timer_deadline != 0 && cpu.timer_deadline <= wanted))
        return;
    cpu.timer_deadline = wanted;
    ++cpu.stats.timer_armings;
    local_apic::arm_timer_at(wanted);
}

void wake_expired_sleepers(Processor& cpu, std::uint64_t now)
{
    while (!cpu.sleepers.empty() && cpu.sleepers.peek()->m_wake_deadline_tsc <= now) {
        Task* task = cpu.sleepers.pop();
        if (task->m_virtual_runtime < cpu.min_virtual_runtime)
            task->m_virtual_runtime = cpu.min_virtual_runtime;
        enqueue_ready(cpu, task);
    }
}

// With cpu.lock held and interrupts off: leaves the current task in `state` (queued again if
// Ready), runs the next one, and returns when the current task is switched back to.
void switch_away_locked(Processor& cpu, TaskState state)
{
    Task* previous = cpu.current;
    std::uint64_t now = cpu::read_tsc();
    if (previous != cpu.idle) {
        previous->m_virtual_runtime += (now - previous->m_slice_start_tsc) * kWeightNormal / weight_of(previous->m_priority);
        // The watchdog counts CPU time since the task last waited: preemption and yields keep it.
        if (state == TaskState::Ready)
            previous->m_run_ticks_since_wait += now - previous->m_slice_start_tsc;
        else
            previous->m_run_ticks_since_wait = 0;
    }
    previous->m_state.store(state, std::memory_order_relaxed);
    if (state == TaskState::Ready && previous != cpu.idle)
        enqueue_ready(cpu, previous);

    Task* next = cpu.ready.pop();
    if (!next)
        next = cpu.idle;
    next->m_state.store(TaskState::Running, std::memory_order_relaxed);
    next->m_slice_start_tsc = now;
    if (next == previous) {
        rearm_timer(cpu);  // still owed the CPU; its new slice needs a deadline if others wait
        return;
    }
    // run_alone() promises that no other task runs until its operation returns: an operation that
    // blocks, sleeps or yields breaks that promise on this very CPU (its callers rewrite code and
    // move state under the assumption). A bug in the operation, never a condition to live with.
    if (stop_machine::running_alone())
        panic("a task switch inside a run-alone window (stop_machine::run_alone): its operation blocked, slept or yielded");
    if (next != cpu.idle && next->m_virtual_runtime > cpu.min_virtual_runtime)
        cpu.min_virtual_runtime = next->m_virtual_runtime;
    cpu.current = next;
    ++cpu.stats.context_switches;
    rearm_timer(cpu);
    // The stack limit is part of a task's context: whatever is in force now (0 inside an
    // interrupt handler, the task's own limit otherwise) is what it finds when it runs again.
    previous->m_stack_limit = arch::stack_limit();
    arch::set_stack_limit(next->m_stack_limit);
    previous->m_cell_calls.next_free = runtime::cell_call_cursor();
    runtime::install_cell_call_area(next->m_cell_calls);
    arch::set_running_stack_top(next->m_stack.valid() ? next->m_stack.top() : 0);
    delos_switch_context(&previous->m_saved_stack_pointer, next->m_saved_stack_pointer);
}

// After a switch, with cpu.lock released: frees what the task that ended before it left behind.
void reap(Task* dead)
{
    if (!dead)
        return;
    stack_cache::give_back(std::move(dead->m_stack));
    dead->drop_reference();
}

Task* take_dead(Processor& cpu)
{
    Task* dead = cpu.dead;
    if (dead == cpu.current)
        return nullptr;
    cpu.dead = nullptr;
    return dead;
}

// The running task is over its watchdog budget: the handler (fault containment) unwinds it from
// this interrupt if it can; if not, the next try is a little later. Called with cpu.lock held;
// the handler runs without it (it prints the report and walks the task's stack).
void check_watchdog(Processor& cpu, arch::InterruptFrame& frame, std::uint64_t now)
{
    Task* task = cpu.current;
    if (task == cpu.idle || watchdog_deadline(task) > now)
        return;
    watchdog::Handler handler = watchdog::handler();
    cpu.lock.unlock(false);
    bool unwound = handler && handler(frame, *task);
    (void)cpu.lock.lock();
    watchdog::count_expiry(unwound);
    if (unwound)
        task->m_watchdog_budget_ticks = 0;  // it is ending; its destructors may take their time
    else
        task->m_watchdog_retry_tsc = now + watchdog::kRetryNanoseconds * (tsc::ticks_per_second() / 1000) / 1'000'000;
}

void on_timer_interrupt(arch::InterruptFrame& frame)
{
    local_apic::end_of_interrupt();
    // Before the scheduler's lock: the graph's lock comes first (a waiter holds it when it blocks),
    // and the tasks it wakes are then in the run queue this tick looks at.
    lock_waits::check_deadlines(cpu::read_tsc());
    Processor& cpu = this_cpu();
    (void)cpu.lock.lock();  // interrupts are off in handlers
    cpu.timer_deadline = 0;
    ++cpu.stats.timer_interrupts;
    std::uint64_t now = cpu::read_tsc();
    wake_expired_sleepers(cpu, now);
    check_watchdog(cpu, frame, now);
    bool slice_used = cpu.current == cpu.idle || now - cpu.current->m_slice_start_tsc >= cpu.slice_ticks;
    if (!cpu.ready.empty() && slice_used) {
        ++cpu.stats.preemptions;
        // The interrupt frame stays on the preempted task's stack; it returns through it later.
        switch_away_locked(cpu, TaskState::Ready);
    } else {
        rearm_timer(cpu);
    }
    Task* dead = take_dead(cpu);
    cpu.lock.unlock(false);
    reap(dead);
}

[[noreturn]] void idle_loop()
{
    Processor& cpu = this_cpu();
    for (;;) {
        bool restore = cpu.lock.lock();
        (void)restore;
        if (!cpu.ready.empty()) {
            switch_away_locked(cpu, TaskState::Ready);  // the idle task is never queued
            Task* dead = take_dead(cpu);
            cpu.lock.unlock(true);
            reap(dead);
            continue;
        }
        cpu.lock.unlock(false);
        cpu::enable_interrupts_and_halt();
    }
}

std::uint64_t heap_owner()
{
    Task* task = this_cpu().current;
    return task && task->m_charge_to_kernel_depth == 0 ? task->m_id : kKernelOwner;
}

void charge_heap(std::uint64_t owner, std::int64_t bytes) { registry::charge_heap(static_cast<TaskId>(owner), bytes); }
void charge_frames(std::uint64_t owner, std::int64_t frames) { registry::charge_frames(static_cast<TaskId>(owner), frames); }

} // namespace

ErrorOr<void> start()
{
    if (g_started)
        return Error::make(ErrorCode::AlreadyExists, "scheduler: already started");
    Processor& cpu = this_cpu();
    cpu.slice_ticks = tsc::ticks_per_second() / (1'000'000'000 / kTimeSliceNanoseconds);
    TRY(local_apic::initialize());

    auto* boot = new Task("kernel_main", Priority::Normal);
    auto boot_id = registry::add(boot);
    if (boot_id.is_error()) {
        delete boot;
        return boot_id.release_error();
    }
    boot->m_id = boot_id.value();
    boot->m_state.store(TaskState::Running);
    boot->m_slice_start_tsc = cpu::read_tsc();

    auto* idle = new Task("idle", Priority::Low);
    auto idle_id = registry::add(idle);
    auto idle_stack = stack_cache::take(1);
    if (idle_id.is_error() || idle_stack.is_error()) {
        delete idle;
        delete boot;
        return idle_id.is_error() ? idle_id.release_error() : idle_stack.release_error();
    }
    idle->m_id = idle_id.value();
    idle->m_stack = idle_stack.release_value();
    idle->m_entry = [](Task&) { idle_loop(); };
    idle->m_saved_stack_pointer = prepare_initial_stack(idle->m_stack.top(), idle);

    cpu.current = boot;
    cpu.idle = idle;
    runtime::install_cell_call_area(boot->m_cell_calls);
    memory::set_heap_owner_hooks(heap_owner, charge_heap);
    memory::set_frame_owner_hooks(heap_owner, charge_frames);
    arch::set_interrupt_handler(local_apic::kTimerVector, on_timer_interrupt);
    g_started = true;
    cpu::enable_interrupts();
    return {};
}

bool started() { return g_started; }
Task* current_task() { return this_cpu().current; }
bool is_idle_task(const Task* task) { return task == this_cpu().idle; }
TaskId current_task_id() { return this_cpu().current ? this_cpu().current->m_id : kKernelOwner; }

void yield()
{
    Processor& cpu = this_cpu();
    bool restore = cpu.lock.lock();
    Task* dead = nullptr;
    if (!cpu.ready.empty()) {
        // Go behind the task that is owed the most; our own sequence number breaks the tie.
        if (cpu.current->m_virtual_runtime < cpu.ready.peek()->m_virtual_runtime)
            cpu.current->m_virtual_runtime = cpu.ready.peek()->m_virtual_runtime;
        switch_away_locked(cpu, TaskState::Ready);
        dead = take_dead(cpu);
    }
    cpu.lock.unlock(restore);
    reap(dead);
}

void sleep_for(std::uint64_t nanoseconds)
{
    if (nanoseconds == 0) {
        yield();
        return;
    }
    Processor& cpu = this_cpu();
    std::uint64_t ticks = nanoseconds * (tsc::ticks_per_second() / 1000) / 1'000'000;
    bool restore = cpu.lock.lock();
    Task* self = cpu.current;
    self->m_wake_deadline_tsc = cpu::read_tsc() + (ticks ? ticks : 1);
    cpu.sleepers.push(self);
    switch_away_locked(cpu, TaskState::Sleeping);
    Task* dead = take_dead(cpu);
    cpu.lock.unlock(restore);
    reap(dead);
}

void block_current_releasing(SpinLock& lock)
{
    Processor& cpu = this_cpu();
    (void)cpu.lock.lock();
    // Blocked before `lock` is released: a waker that dequeues us must take cpu.lock to wake
    // us, and we hold it until we are off this CPU.
    cpu.current->m_state.store(TaskState::Blocked, std::memory_order_relaxed);
    lock.unlock(false);
    switch_away_locked(cpu, TaskState::Blocked);
    Task* dead = take_dead(cpu);
    cpu.lock.unlock(false);
    reap(dead);
}

void wake(Task* task)
{
    Processor& cpu = this_cpu();
    bool restore = cpu.lock.lock();
    if (task->m_state.load(std::memory_order_relaxed) == TaskState::Blocked) {
        if (task->m_virtual_runtime < cpu.min_virtual_runtime)
            task->m_virtual_runtime = cpu.min_virtual_runtime;
        enqueue_ready(cpu, task);
        rearm_timer(cpu);
    }
    cpu.lock.unlock(restore);
}

void finish_first_switch()
{
    Processor& cpu = this_cpu();
    Task* dead = take_dead(cpu);
    cpu.lock.unlock(true);  // a new task starts with interrupts on
    reap(dead);
}

void make_ready_new(Task* task)
{
    Processor& cpu = this_cpu();
    bool restore = cpu.lock.lock();
    task->m_virtual_runtime = cpu.min_virtual_runtime;
    enqueue_ready(cpu, task);
    rearm_timer(cpu);
    cpu.lock.unlock(restore);
}

void exit_current()
{
    cpu::disable_interrupts();
    Processor& cpu = this_cpu();
    Task* self = cpu.current;
    if (self == cpu.idle || !self->m_stack.valid())
        panic("scheduler: the idle task or the boot task tried to exit");
    (void)self->m_join_lock.lock();
    self->m_finished = true;
    self->m_joiners.wake_all();
    self->m_join_lock.unlock(false);
    (void)cpu.lock.lock();
    cpu.dead = self;
    switch_away_locked(cpu, TaskState::Dead);
    panic("scheduler: a dead task was switched back to");
}

ChargeToKernel::ChargeToKernel() : m_task(this_cpu().current)
{
    if (m_task)
        ++m_task->m_charge_to_kernel_depth;
}

ChargeToKernel::~ChargeToKernel()
{
    if (m_task)
        --m_task->m_charge_to_kernel_depth;
}

Statistics statistics()
{
    Processor& cpu = this_cpu();
    SpinLockGuard guard(cpu.lock);
    Statistics stats = cpu.stats;
    stats.ready_tasks = cpu.ready.size();
    stats.sleeping_tasks = cpu.sleepers.size();
    return stats;
}

} // namespace delos::task::scheduler
