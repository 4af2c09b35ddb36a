// cpu_tests.cpp: the CPU mode contract (docs/kvm-pvm-native-mode.md): an MSR that does not
// exist is survived through the #GP fixup, exceptions are delivered and resumed, and the
// kernel's view of the interrupt flag stays right across cli/sti, locks and interrupts (in
// kvm_pvm's native mode pushfq cannot tell, so the kernel keeps the flag itself).
#include <atomic>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
#include "apic/local_apic.h"
#include "arch/x86_64/native_mode.h"
#include "arch/x86_64/tsc.h"
#include "debug/fault_probe.h"
#include "selftest/selftest.h"
#include "sync/spin_lock.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::selftest {

namespace {

constexpr std::uint64_t kBreakpoint = 3;
// A published PVM MSR that kvm_pvm here does not implement (#GP), as real KVM would for any.
constexpr std::uint32_t kMissingMsr = 0x4b564df0;

ErrorOr<void> missing_msr_read_is_survived()
{
    std::uint64_t value = 0xdead;
    bool read = arch::read_msr_safe(kMissingMsr, value);
    // TCG reads unknown MSRs as 0 instead of raising #GP; kvm_pvm raises it.
    if (cpu::native_mode())
        SELFTEST_CHECK(!read);
    if (read)
        SELFTEST_CHECK(value == 0);
    return {};
}

ErrorOr<void> signature_matches_the_mode()
{
    SELFTEST_CHECK(arch::detect_kvm_pvm() == cpu::native_mode());
    return {};
}

// kvm_pvm stays in native mode only on a root with CR3 bit 12 set (page_table.cpp); on an
// even root it silently emulates every instruction, which no functional test would notice.
ErrorOr<void> native_root_is_an_odd_frame()
{
    if (cpu::native_mode())
        SELFTEST_CHECK(cpu::read_cr3() & 0x1000);
    return {};
}

void breakpoint(void*) { asm volatile("int3"); }

ErrorOr<void> breakpoint_is_delivered_and_resumed()
{
    FaultRecord record{};
    bool interrupts_were_on = cpu::interrupts_enabled();
    SELFTEST_CHECK(run_expecting_fault(breakpoint, nullptr, record));
    SELFTEST_CHECK(record.vector == kBreakpoint);
    SELFTEST_CHECK(cpu::interrupts_enabled() == interrupts_were_on);
    return {};
}

ErrorOr<void> interrupt_flag_is_tracked()
{
    SELFTEST_CHECK(cpu::interrupts_enabled());  // tests run in a task, interrupts on
    cpu::disable_interrupts();
    bool off = !cpu::interrupts_enabled();
    cpu::enable_interrupts();
    SELFTEST_CHECK(off);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    SpinLock outer, inner;
    bool off_in_outer = false, off_in_inner = false, off_after_inner = false;
    {
        SpinLockGuard outer_guard(outer);
        off_in_outer = !cpu::interrupts_enabled();
        {
            SpinLockGuard inner_guard(inner);
            off_in_inner = !cpu::interrupts_enabled();
        }
        off_after_inner = !cpu::interrupts_enabled();  // the inner lock must not turn them on
    }
    SELFTEST_CHECK(off_in_outer && off_in_inner && off_after_inner);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    // Timer interrupts come and go while we sleep; each return must leave the flag on.
    task::scheduler::sleep_for(2'000'000);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return {};
}

std::uint64_t timer_interrupts() { return task::scheduler::statistics().timer_interrupts; }

// With interrupts masked: makes the timer fire now and waits until the interrupt has arrived
// and is held back — in native mode deferred by the soft mask (recorded as pending), on the
// ordinary path waiting in the local APIC's request register. The bound only stops a hang.
ErrorOr<void> raise_timer_interrupt_while_masked()
{
    SELFTEST_CHECK(!cpu::interrupts_enabled());
    // The scheduler's own deadline is replaced; its handler re-arms from scratch when it runs.
    local_apic::arm_timer_at(cpu::read_tsc());
    std::uint64_t give_up = cpu::read_tsc() + tsc::ticks_per_second();
    auto held = [] {
        return cpu::native_mode() ? cpu::interrupt_pending(local_apic::kTimerVector)
                                  : local_apic::interrupt_requested(local_apic::kTimerVector);
    };
    while (!held() && cpu::read_tsc() < give_up)
        cpu::pause();
    SELFTEST_CHECK(held());
    return {};
}

// A timer interrupt that arrives while masked runs exactly when interrupts are enabled again:
// not while masked (early), not never (lost).
ErrorOr<void> masked_timer_interrupt_runs_at_unmask()
{
    cpu::disable_interrupts();
    std::uint64_t before = timer_interrupts();
    auto raised = raise_timer_interrupt_while_masked();
    std::uint64_t while_masked = timer_interrupts();
    bool still_masked = !cpu::interrupts_enabled();
    cpu::enable_interrupts();
    std::uint64_t after = timer_interrupts();
    SELFTEST_TRY(raised);
    SELFTEST_CHECK(while_masked == before);
    SELFTEST_CHECK(still_masked);
    SELFTEST_CHECK(after > before);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    if (cpu::native_mode()) {
        SELFTEST_CHECK(!cpu::interrupt_pending(local_apic::kTimerVector));
        SELFTEST_CHECK(delos_virtual_interrupt_flag);  // the real virtual IF is back on
    }
    return {};
}

// Releasing an inner lock keeps the outer lock's mask: the held-back interrupt waits for the
// outermost release.
ErrorOr<void> nested_locks_keep_the_interrupt_masked()
{
    SpinLock outer, inner;
    std::uint64_t before = 0, after_inner = 0;
    bool pending_after_inner = true;
    ErrorOr<void> raised;
    {
        SpinLockGuard outer_guard(outer);
        before = timer_interrupts();
        {
            SpinLockGuard inner_guard(inner);
            raised = raise_timer_interrupt_while_masked();
        }
        after_inner = timer_interrupts();
        pending_after_inner = cpu::native_mode() ? cpu::interrupt_pending(local_apic::kTimerVector)
                                                 : local_apic::interrupt_requested(local_apic::kTimerVector);
    }
    std::uint64_t after_outer = timer_interrupts();
    SELFTEST_TRY(raised);
    SELFTEST_CHECK(after_inner == before);
    SELFTEST_CHECK(pending_after_inner);
    SELFTEST_CHECK(after_outer > before);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return {};
}

// The idle helper with an interrupt already held back runs it and returns instead of sleeping
// through it (a lost wake-up would hang here).
ErrorOr<void> halt_with_a_held_interrupt_returns()
{
    cpu::disable_interrupts();
    std::uint64_t before = timer_interrupts();
    auto raised = raise_timer_interrupt_while_masked();
    cpu::enable_interrupts_and_halt();
    std::uint64_t after = timer_interrupts();
    SELFTEST_TRY(raised);
    SELFTEST_CHECK(after > before);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return {};
}

// The idle task halts while every task sleeps, and each timer wake-up reaches it: a sleeper
// sleeping twenty times in a row while this task waits in join would hang if one was lost.
ErrorOr<void> idle_wakes_for_sleepers()
{
    std::uint64_t before = timer_interrupts();
    auto handle = SELFTEST_TRY(task::spawn("sleeper", [] {
        for (int i = 0; i < 20; ++i)
            task::scheduler::sleep_for(200'000);
        return cpu::interrupts_enabled();
    }));
    auto outcome = handle.join();
    SELFTEST_CHECK(outcome.returned() && outcome.value());
    SELFTEST_CHECK(timer_interrupts() >= before + 20);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return {};
}

// A task that spends nearly all its time inside spin-locked sections is still preempted: the
// timer interrupt lands while it is masked (native mode: deferred) and its handler preempts at
// the unlock. The releaser can only run if that happens; the bound only stops a hang.
ErrorOr<void> task_spinning_under_a_lock_is_preempted()
{
    std::atomic<bool> released{false};
    SpinLock lock;
    auto before = task::scheduler::statistics();
    std::uint64_t deferred_before = arch::deferred_interrupt_count();
    auto spinner = SELFTEST_TRY(task::spawn("locked-spinner", [&released, &lock] {
        std::uint64_t give_up = cpu::read_tsc() + 3 * tsc::ticks_per_second();
        while (!released.load(std::memory_order_acquire)) {
            if (cpu::read_tsc() > give_up)
                return false;
            SpinLockGuard guard(lock);
            for (int i = 0; i < 2000; ++i)
                cpu::pause();
        }
        return true;
    }));
    auto releaser = SELFTEST_TRY(task::spawn("releaser", [&released] { released.store(true, std::memory_order_release); }));
    bool spinner_saw_release = spinner.join().value();
    SELFTEST_CHECK(spinner_saw_release);
    SELFTEST_CHECK(releaser.join().returned());
    SELFTEST_CHECK(task::scheduler::statistics().preemptions > before.preemptions);
    if (cpu::native_mode())
        SELFTEST_CHECK(arch::deferred_interrupt_count() > deferred_before);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return {};
}

// A fault taken while masked (the exception is never deferred) resumes still masked.
ErrorOr<void> breakpoint_while_masked_keeps_the_mask()
{
    FaultRecord record{};
    cpu::disable_interrupts();
    bool faulted = run_expecting_fault(breakpoint, nullptr, record);
    bool masked = !cpu::interrupts_enabled();
    cpu::enable_interrupts();
    SELFTEST_CHECK(faulted && record.vector == kBreakpoint);
    SELFTEST_CHECK(masked);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return {};
}

} // namespace

extern const TestCase kCpuTests[] = {
    {"cpu", "missing_msr_read_is_survived", missing_msr_read_is_survived},
    {"cpu", "signature_matches_the_mode", signature_matches_the_mode},
    {"cpu", "native_root_is_an_odd_frame", native_root_is_an_odd_frame},
    {"cpu", "breakpoint_is_delivered_and_resumed", breakpoint_is_delivered_and_resumed},
    {"cpu", "interrupt_flag_is_tracked", interrupt_flag_is_tracked},
    {"cpu", "masked_timer_interrupt_runs_at_unmask", masked_timer_interrupt_runs_at_unmask},
    {"cpu", "nested_locks_keep_the_interrupt_masked", nested_locks_keep_the_interrupt_masked},
    {"cpu", "halt_with_a_held_interrupt_returns", halt_with_a_held_interrupt_returns},
    {"cpu", "idle_wakes_for_sleepers", idle_wakes_for_sleepers},
    {"cpu", "breakpoint_while_masked_keeps_the_mask", breakpoint_while_masked_keeps_the_mask},
    {"cpu", "task_spinning_under_a_lock_is_preempted", task_spinning_under_a_lock_is_preempted},
};
extern const std::size_t kCpuTestCount = sizeof kCpuTests / sizeof kCpuTests[0];

} // namespace delos::selftest
