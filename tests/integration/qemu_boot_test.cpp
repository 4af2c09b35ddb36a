// qemu_boot_test.cpp: the same delos.elf boots under QEMU by PVH (pc and microvm machines) and
// prints the same ready line; the debug-exit device reports (code << 1) | 1.
#include <gtest/gtest.h>

#include "vm_test_support.h"

using namespace delos::test;

namespace {

// `with_cells`: the boot cell archive goes in as the PVH module (QEMU's -initrd).
ChildResult run_qemu(const std::string& machine, const std::string& cmdline, const char* accel = "kvm", bool with_cells = false)
{
    std::vector<std::string> arguments = {"qemu-system-x86_64", "-accel", accel, "-M", machine, "-m", "64M", "-nodefaults",
                                          "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-append",
                                          cmdline, "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio",
                                          "-monitor", "none"};
    if (with_cells) {
        arguments.push_back("-initrd");
        arguments.push_back(build_path("cells/cells.a"));
    }
    return run_child(arguments, {std::chrono::seconds(180), "delos: ready"});
}

class QemuBoot : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override
    {
        DELOS_REQUIRE_QEMU();
        DELOS_REQUIRE_KVM();
    }
};

} // namespace

TEST_P(QemuBoot, PrintsReadyAndExitsThroughDebugExit)
{
    auto result = run_qemu(GetParam(), "exit");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("delos: ready:"), std::string::npos) << result.out << result.err;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

TEST_P(QemuBoot, PanicExitCodeCrossesTheDebugExitDevice)
{
    auto result = run_qemu(GetParam(), "panic");
    EXPECT_NE(result.out.find("delos: PANIC"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (11 << 1) | 1) << result.err;
}

// QEMU with KVM runs on kvm_pvm here too, so the guest enters native mode there as well; TCG
// is the one hypervisor on this host that exercises the ordinary path: the kvm_pvm probe
// (CPUID, then the signature MSR) must be harmless and leave the guest ordinary.
TEST(QemuTcgBoot, GuestStaysInTheOrdinaryMode)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "exit", "tcg");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("cpu: ordinary\n"), std::string::npos) << result.out << result.err;
    EXPECT_NE(result.out.find("delos: ready:"), std::string::npos) << result.out << result.err;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// The ordinary path keeps its IST stack for #DF: a stack overflow is reported by the guest.
TEST(QemuTcgBoot, StackOverflowIsReportedAsADoubleFault)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "crash-stack-overflow", "tcg");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("#DF double fault"), std::string::npos) << result.out << result.err;
    EXPECT_EQ(result.exit_code, (11 << 1) | 1) << result.err;
}

// Fault containment (docs/unwinding.md): tasks that fault with a null write, #UD, a divide error
// or a breakpoint while owning heap objects, pages and a mutex are unwound with their
// destructors run, end Faulted, and the guest runs on with frames and heap at their baseline.
TEST(QemuTcgBoot, FaultingTasksAreUnwoundAndTheGuestRunsOn)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "selftest faults", "tcg", true);
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("selftest: 7 passed, 0 failed"), std::string::npos) << result.out;
    // The fault inside the kv cell is named by cell, version and symbol, across cell and kernel.
    EXPECT_NE(result.out.find("lower_bound"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("(cell kv "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("delos_task_entry_trampoline"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("delos: FAULT #1 in task"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("#UD invalid opcode (vector 6)"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("hold_and_fault"), std::string::npos) << result.out;  // symbolised
    EXPECT_NE(result.out.find("recovery: unwinding"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("PANIC"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// What cannot be contained stays fatal, with the full report and exit code 11: a fault in the
// boot task, a fault with a spin lock held, and a fault in a destructor while unwinding.
TEST(QemuTcgBoot, UncontainableFaultsStillPanic)
{
    DELOS_REQUIRE_QEMU();
    struct Case {
        const char* command;
        const char* reason;
    };
    for (const Case& c : {Case{"crash-page-fault", "not contained: the boot and idle tasks"},
                          Case{"crash-task-spinlocked", "not contained: interrupts were masked"},
                          Case{"crash-task-in-destructor", "not contained: a fault while unwinding"}}) {
        auto result = run_qemu("microvm", c.command, "tcg");
        ASSERT_FALSE(result.timed_out) << c.command << result.out << result.err;
        EXPECT_NE(result.out.find(c.reason), std::string::npos) << c.command << result.out;
        EXPECT_NE(result.out.find("EXCEPTION #PF page fault (vector 14)"), std::string::npos) << c.command << result.out;
        EXPECT_NE(result.out.find("backtrace:"), std::string::npos) << c.command << result.out;
        EXPECT_EQ(result.exit_code, (11 << 1) | 1) << c.command << result.err;
    }
}

INSTANTIATE_TEST_SUITE_P(Machines, QemuBoot, ::testing::Values("microvm", "pc"));
