// qemu_boot_test.cpp: the same delos.elf boots under QEMU by PVH (pc and microvm machines) and
// prints the same ready line; the debug-exit device reports (code << 1) | 1.
#include <gtest/gtest.h>

#include "vm_test_support.h"

using namespace delos::test;

namespace {

ChildResult run_qemu(const std::string& machine, const std::string& cmdline, const char* accel = "kvm")
{
    return run_child({"qemu-system-x86_64", "-accel", accel, "-M", machine, "-m", "64M", "-nodefaults", "-no-user-config",
                      "-nographic", "-no-reboot", "-kernel", kernel_path(), "-append", cmdline, "-device",
                      "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio", "-monitor", "none"},
                     {std::chrono::seconds(180), "delos: ready"});
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

INSTANTIATE_TEST_SUITE_P(Machines, QemuBoot, ::testing::Values("microvm", "pc"));

// Issue 9: the channel engine over the real kernel backend, 50+ sessions of push + load + unload
// of a cell with a 1 MiB frame and a half-sent frame each: the heap is back at its baseline and
// every frame not back is a page table (guest/selftest/control_tests.cpp). Under TCG, so CI runs it.
TEST(QemuTcgBoot, ChannelSessionsGiveMemoryBack)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "128M", "-nodefaults",
                             "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-initrd",
                             build_path("cells/cells.a"), "-append", "selftest control.", "-device",
                             "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio", "-monitor", "none"},
                            {std::chrono::seconds(240), ""});
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("selftest: ok   control.sessions_give_frames_and_heap_back"), std::string::npos)
        << result.out << result.err;
    EXPECT_NE(result.out.find("selftest: 1 passed, 0 failed"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}
