// crash_commands.cpp: deliberate crashes from the command line, so tests can check how each is
// reported end to end: in the kernel core (page fault, stack overflow, triple fault) and inside
// tasks for the faults fault containment must NOT contain (a spin lock held; a fault in a
// destructor while unwinding; a fault in an interrupt handler; a stack overflow with a spin lock
// held): each ends in the full panic report and exit code 11.
#include "diagnostics/crash_commands.h"

#include "arch/x86_64/interrupts.h"
#include "log/panic.h"
#include "lib/core/string_view.h"
#include "sync/spin_lock.h"
#include "sync/stop_machine.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::diagnostics {

namespace {

volatile std::uint64_t g_crash_address = 0;  // read at run time: the compiler cannot see the null
SpinLock g_crash_lock;

[[gnu::noinline]] void fault_with_spin_lock_held()
{
    SpinLockGuard guard(g_crash_lock);
    *reinterpret_cast<volatile std::uint64_t*>(g_crash_address) = 1;
}

struct FaultsWhenDestroyed {
    ~FaultsWhenDestroyed() { *reinterpret_cast<volatile std::uint64_t*>(g_crash_address + 8) = 2; }
};

[[gnu::noinline]] void fault_then_fault_in_destructor()
{
    FaultsWhenDestroyed guard;
    *reinterpret_cast<volatile std::uint64_t*>(g_crash_address) = 1;
}

// An interrupt handler that faults: interrupt context is never contained.
constexpr std::uint8_t kCrashVector = 0xf3;
void faulting_interrupt_handler(arch::InterruptFrame&) { *reinterpret_cast<volatile std::uint64_t*>(g_crash_address) = 3; }

[[gnu::noinline]] void fault_in_interrupt_handler()
{
    arch::set_interrupt_handler(kCrashVector, faulting_interrupt_handler);
    asm volatile("int $0xf3" ::: "memory");
}

// Unbounded recursion with a spin lock held: the overflow is found, but not contained.
[[gnu::noinline]] std::uint64_t recurse_forever(std::uint64_t depth)
{
    volatile char buffer[200];
    buffer[depth % sizeof buffer] = static_cast<char>(depth);
    return recurse_forever(depth + 1) + buffer[(depth + 1) % sizeof buffer];
}

[[gnu::noinline]] void overflow_with_spin_lock_held()
{
    SpinLockGuard guard(g_crash_lock);
    (void)recurse_forever(0);
}

} // namespace

[[gnu::noinline]] void crash_with_page_fault()
{
    volatile std::uint64_t* unmapped = reinterpret_cast<volatile std::uint64_t*>(0x10);
    *unmapped = 0xdead;
    panic("a write to an unmapped page did not fault");
}

namespace {

// Recurses until the stack runs into its guard page.
[[gnu::noinline]] std::uint64_t recurse_without_bound(std::uint64_t depth)
{
    volatile std::uint8_t frame[512];
    frame[0] = static_cast<std::uint8_t>(depth);
    return recurse_without_bound(depth + 1) + frame[0];
}

[[noreturn]] void crash_in_task(void (*crash)())
{
    auto handle = task::spawn("crasher", [crash] { crash(); });
    if (handle.is_error())
        panic("spawning the crashing task", handle.error());
    (void)handle.value().join();
    panic("a task crash that must not be contained was contained");
}

} // namespace

[[gnu::noinline]] void crash_with_stack_overflow()
{
    (void)recurse_without_bound(0);
    panic("unbounded recursion returned");
}

[[noreturn]] void crash_with_triple_fault()
{
    struct [[gnu::packed]] {
        std::uint16_t limit;
        std::uint64_t base;
    } empty_idt{0, 0};
    asm volatile("lidt %0; int3" ::"m"(empty_idt));
    __builtin_unreachable();
}

[[noreturn]] void crash_task_with_spin_lock_held() { crash_in_task(fault_with_spin_lock_held); }
[[noreturn]] void crash_task_in_destructor() { crash_in_task(fault_then_fault_in_destructor); }
[[noreturn]] void crash_task_in_interrupt() { crash_in_task(fault_in_interrupt_handler); }
[[noreturn]] void crash_task_overflow_with_spin_lock_held() { crash_in_task(overflow_with_spin_lock_held); }

// A run_alone() operation that yields while another task is ready: the scheduler must refuse the
// switch with a panic naming it (task/scheduler.cpp). Without that check the other task would run
// inside the window, and this ends in a different panic saying so.
[[noreturn]] void crash_switch_inside_run_alone()
{
    // The bystander stays ready (it yields until released), so it is there to switch to however
    // the timer interleaved it with this task before the window opened.
    static volatile bool s_other_ran = false, s_release = false;
    auto other = task::spawn("bystander", [] {
        while (!s_release) {
            s_other_ran = true;
            task::scheduler::yield();
        }
    });
    if (other.is_error())
        panic("spawning the bystander task", other.error());
    bool switched_inside = false;
    auto operation = [&] {
        s_other_ran = false;
        task::scheduler::yield();  // the bug: the bystander is ready, so this switches to it
        switched_inside = s_other_ran;
    };
    auto ran = stop_machine::run_alone(operation);
    if (ran.is_error())
        panic("run_alone refused", ran.error());
    s_release = true;
    (void)other.value().join();
    panic(switched_inside ? "another task ran inside a run-alone window and nothing stopped it"
                          : "yield inside a run-alone window did not switch (the bystander was not ready)");
}

} // namespace delos::diagnostics
