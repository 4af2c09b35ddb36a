// recovery_policy_options_test.cpp: the default recovery policy from the guest command line:
// options override the base, the rest stays; a malformed number or an unworkable policy is
// refused naming the option.
#include <gtest/gtest.h>

#include "lib/recovery/policy_options.h"

using namespace delos;
using namespace delos::recovery;

TEST(RecoveryPolicyOptions, OptionsOverrideTheBaseAndTheRestStays)
{
    CommandLine line("run recovery.window_ms=250 recovery.max_reloads=5 virtio_pci.interrupts=intx");
    auto policy = policy_from_command_line(line, RecoveryPolicy{});
    ASSERT_FALSE(policy.is_error());
    EXPECT_EQ(policy.value().window_ns, 250'000'000u);
    EXPECT_EQ(policy.value().max_reloads, 5u);
    EXPECT_EQ(policy.value().reload_after_faults, RecoveryPolicy{}.reload_after_faults);
    EXPECT_EQ(policy.value().rollback_window_ns, RecoveryPolicy{}.rollback_window_ns);
}

TEST(RecoveryPolicyOptions, EveryOptionIsRead)
{
    CommandLine line("recovery.window_ms=1 recovery.reload_after_faults=3 recovery.max_reloads=0 "
                     "recovery.rollback_window_ms=0 recovery.max_restarts=2 selftest");
    auto policy = policy_from_command_line(line, RecoveryPolicy{});
    ASSERT_FALSE(policy.is_error());
    EXPECT_EQ(policy.value().window_ns, 1'000'000u);
    EXPECT_EQ(policy.value().reload_after_faults, 3u);
    EXPECT_EQ(policy.value().max_reloads, 0u);
    EXPECT_EQ(policy.value().rollback_window_ns, 0u);
    EXPECT_EQ(policy.value().max_restarts, 2u);
}

TEST(RecoveryPolicyOptions, MalformedOrUnworkableValuesAreRefused)
{
    for (const char* text : {"recovery.window_ms=-1", "recovery.window_ms=1e3", "recovery.max_reloads=",
                             "recovery.max_restarts=99999999999", "recovery.window_ms=1234567890123456",
                             "recovery.window_ms=0", "recovery.reload_after_faults=0", "recovery.max_restarts=33"}) {
        auto policy = policy_from_command_line(CommandLine(text), RecoveryPolicy{});
        EXPECT_TRUE(policy.is_error()) << text;
    }
    auto refused = policy_from_command_line(CommandLine("recovery.window_ms=x"), RecoveryPolicy{});
    ASSERT_TRUE(refused.is_error());
    EXPECT_NE(std::string(refused.error().explanation().data(), refused.error().explanation().size()).find("recovery.window_ms"),
              std::string::npos);
}
