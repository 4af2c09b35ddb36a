// task_crash_commands.cpp: command-line crashes inside tasks for the faults fault containment
// must NOT contain (a spin lock held; a fault in a destructor while unwinding; a fault in an
// interrupt handler; a stack overflow with a spin lock held): each must end in the full panic
// report and exit code 11, as the integration tests check.
#include "arch/x86_64/interrupts.h"
#include "log/panic.h"
#include "lib/core/string_view.h"
#include "sync/spin_lock.h"
#include "task/spawn.h"

namespace delos::kernel {

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

// Returns if `command` is not one of these; otherwise the task's fault panics the kernel.
void run_task_crash_command(StringView command)
{
    void (*crash)() = nullptr;
    if (command == "crash-task-spinlocked")
        crash = fault_with_spin_lock_held;
    else if (command == "crash-task-in-destructor")
        crash = fault_then_fault_in_destructor;
    else if (command == "crash-task-in-interrupt")
        crash = fault_in_interrupt_handler;
    else if (command == "crash-task-overflow-spinlocked")
        crash = overflow_with_spin_lock_held;
    else
        return;
    auto handle = task::spawn("crasher", [crash] { crash(); });
    if (handle.is_error())
        panic("spawning the crashing task", handle.error());
    (void)handle.value().join();
    panic("a task crash that must not be contained was contained");
}

} // namespace delos::kernel
