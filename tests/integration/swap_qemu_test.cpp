// swap_qemu_test.cpp: live evolution inside the real guest under QEMU TCG (this machine has no
// KVM): `selftest swap` with build/cells/swap-test.a as the PVH module: kv swaps to 2.0.0 and
// back keeping its entries, refused swaps change nothing, and three tasks calling counter in a
// tight loop lose no call while counter is swapped back and forth 1,000 times (~40 s under TCG).
#include <gtest/gtest.h>

#include "vm_test_support.h"

using namespace delos::test;

TEST(SwapUnderQemuTcg, SelftestSwapPasses)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "64M", "-nodefaults", "-no-user-config",
                             "-nographic", "-no-reboot", "-kernel", kernel_path(), "-initrd", build_path("cells/swap-test.a"),
                             "-append", "selftest swap", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio",
                             "-monitor", "none"},
                            {std::chrono::seconds(280), "delos: ready"});
    ASSERT_FALSE(result.timed_out) << result.out.substr(result.out.size() > 4000 ? result.out.size() - 4000 : 0);
    EXPECT_NE(result.out.find("selftest: ok   swap.kv_keeps_entries_and_rolls_back"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   swap.refusals_change_nothing"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   swap.calls_in_flight_survive_many_swaps"), std::string::npos)
        << result.out.substr(result.out.size() > 4000 ? result.out.size() - 4000 : 0);
    EXPECT_NE(result.out.find("selftest: 3 passed, 0 failed"), std::string::npos);
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}
