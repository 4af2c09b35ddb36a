// cpu_tests.cpp: the CPU mode contract (docs/kvm-pvm-native-mode.md): an MSR that does not
// exist is survived through the #GP fixup, exceptions are delivered and resumed, and the
// kernel's view of the interrupt flag stays right across cli/sti, locks and interrupts (in
// kvm_pvm's native mode pushfq cannot tell, so the kernel keeps the flag itself).
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/native_mode.h"
#include "debug/fault_probe.h"
#include "selftest/selftest.h"
#include "sync/spin_lock.h"
#include "task/scheduler.h"

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

} // namespace

extern const TestCase kCpuTests[] = {
    {"cpu", "missing_msr_read_is_survived", missing_msr_read_is_survived},
    {"cpu", "signature_matches_the_mode", signature_matches_the_mode},
    {"cpu", "native_root_is_an_odd_frame", native_root_is_an_odd_frame},
    {"cpu", "breakpoint_is_delivered_and_resumed", breakpoint_is_delivered_and_resumed},
    {"cpu", "interrupt_flag_is_tracked", interrupt_flag_is_tracked},
};
extern const std::size_t kCpuTestCount = sizeof kCpuTests / sizeof kCpuTests[0];

} // namespace delos::selftest
