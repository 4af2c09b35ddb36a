// recovery_qemu_test.cpp: fault recovery's policy inside the real guest under QEMU TCG (this
// machine has no KVM): `selftest recovery` with build/cells/recovery-test.a as the PVH module:
// restart of a restartable task and of a cell's service task, reload of a cell that faults again
// (fresh data, dependents re-pointed), quarantine after repeated reloads (calls refused), and
// rollback of a cell that faults right after a swap; the guest stays up throughout. The same
// selftest under delos-vmm where /dev/kvm exists.
#include <gtest/gtest.h>

#include "vm_test_support.h"

using namespace delos::test;

namespace {

std::string tail(const std::string& text) { return text.substr(text.size() > 6000 ? text.size() - 6000 : 0); }

} // namespace

TEST(RecoveryUnderQemuTcg, SelftestRecoveryPasses)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "64M", "-nodefaults", "-no-user-config",
                             "-nographic", "-no-reboot", "-kernel", kernel_path(), "-initrd", build_path("cells/recovery-test.a"),
                             "-append", "selftest recovery", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio",
                             "-monitor", "none"},
                            {std::chrono::seconds(240), "delos: ready"});
    ASSERT_FALSE(result.timed_out) << tail(result.out);
    for (const char* test : {"restartable_task_is_restarted_with_its_resources_back", "a_cell_service_task_is_restarted",
                             "a_cell_faulting_again_is_reloaded_fresh", "a_cell_that_keeps_faulting_is_quarantined",
                             "a_cell_faulting_right_after_a_swap_is_rolled_back", "a_first_call_racing_the_swap_is_rolled_back",
                             "a_wild_jump_inside_a_call_blames_the_called_cell", "a_fault_in_the_glue_of_an_open_call_blames_the_called_cell",
                             "a_wild_return_or_jump_in_a_gate_call_blames_the_called_cell", "a_task_that_leaves_ring_zero_ends_alone"})
        EXPECT_NE(result.out.find(std::string("selftest: ok   recovery.") + test), std::string::npos) << test << "\n" << tail(result.out);
    EXPECT_NE(result.out.find("selftest: 10 passed, 0 failed"), std::string::npos) << tail(result.out);
    // The console shows each action as the policy took it.
    EXPECT_NE(result.out.find("recovery: task restart-test is restarted"), std::string::npos);
    EXPECT_NE(result.out.find("cell faulty reloaded (generation"), std::string::npos);
    EXPECT_NE(result.out.find("cell faulty quarantined ("), std::string::npos);
    EXPECT_NE(result.out.find("cell faulty rolled back to 1.0.0"), std::string::npos);
    EXPECT_NE(result.out.find("a call into a quarantined cell was refused"), std::string::npos);
    EXPECT_EQ(result.out.find("delos: PANIC"), std::string::npos) << tail(result.out);
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// The same under delos-vmm (KVM; skipped, saying so, where /dev/kvm is missing).
TEST(RecoveryUnderVmm, SelftestRecoveryPasses)
{
    DELOS_REQUIRE_KVM();
    auto result = run_vmm({"--module", build_path("cells/recovery-test.a"), "--cmdline", "selftest recovery", kernel_path()},
                          std::chrono::seconds(300));
    ASSERT_FALSE(result.timed_out) << tail(result.out);
    EXPECT_NE(result.out.find("selftest: 10 passed, 0 failed"), std::string::npos) << tail(result.out);
    EXPECT_EQ(result.exit_code, 0) << result.err;
}
