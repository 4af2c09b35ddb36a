// recovery_decision_test.cpp: the recovery policy's decisions (guest/lib/recovery): a fault
// alone restarts only the task; faults within the window reload the cell; reloads in a row end
// in quarantine; a fault soon after a swap rolls it back; a task that keeps faulting at once is
// given up on; a quiet period forgives earlier reloads.
#include <gtest/gtest.h>

#include "lib/recovery/recovery_decision.h"

using namespace delos::recovery;

namespace {

constexpr std::uint64_t kMs = 1'000'000;

RecoveryPolicy policy_of(std::uint64_t window_ms, std::uint32_t reload_after, std::uint32_t max_reloads)
{
    RecoveryPolicy policy;
    policy.window_ns = window_ms * kMs;
    policy.reload_after_faults = reload_after;
    policy.max_reloads = max_reloads;
    return policy;
}

} // namespace

TEST(RecoveryDecision, OneFaultLeavesTheCellAlone)
{
    CellFaultHistory history;
    auto decision = decide_for_cell(history, RecoveryPolicy{}, 5 * kMs);
    EXPECT_EQ(decision.action, CellAction::None);
    EXPECT_EQ(decision.faults_in_window, 1u);
    EXPECT_EQ(history.faults, 1u);
}

TEST(RecoveryDecision, FaultsWithinTheWindowReload)
{
    CellFaultHistory history;
    auto policy = policy_of(100, 2, 3);
    EXPECT_EQ(decide_for_cell(history, policy, 1000 * kMs).action, CellAction::None);
    auto second = decide_for_cell(history, policy, 1050 * kMs);
    EXPECT_EQ(second.action, CellAction::Reload);
    EXPECT_EQ(second.faults_in_window, 2u);
    EXPECT_EQ(second.reload_number, 1u);
    EXPECT_EQ(history.reloads, 1u);
    // The reload starts the count afresh.
    EXPECT_EQ(decide_for_cell(history, policy, 1060 * kMs).action, CellAction::None);
}

TEST(RecoveryDecision, FaultsFurtherApartThanTheWindowDoNotReload)
{
    CellFaultHistory history;
    auto policy = policy_of(100, 2, 3);
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(decide_for_cell(history, policy, (1000 + 150 * i) * kMs).action, CellAction::None) << i;
    EXPECT_EQ(history.reloads, 0u);
    EXPECT_EQ(history.faults, 10u);
}

TEST(RecoveryDecision, ReloadsInARowEndInQuarantine)
{
    CellFaultHistory history;
    auto policy = policy_of(100, 1, 3);  // every fault reloads
    std::uint64_t now = 1000 * kMs;
    for (std::uint32_t reload = 1; reload <= 3; ++reload) {
        auto decision = decide_for_cell(history, policy, now += kMs);
        EXPECT_EQ(decision.action, CellAction::Reload);
        EXPECT_EQ(decision.reload_number, reload);
        reload_done(history);  // the reload took effect: the next fault is the new copy's
    }
    EXPECT_EQ(decide_for_cell(history, policy, now += kMs).action, CellAction::Quarantine);
    EXPECT_TRUE(history.quarantined);
    EXPECT_EQ(decide_for_cell(history, policy, now += kMs).action, CellAction::Refused);
    EXPECT_EQ(history.faults, 5u);
    EXPECT_EQ(history.reloads, 3u);
}

// The fault campaign's pipeline: a corrupted stage faults in every worker that calls it; the
// reload is carried out by the recovery task once the faulted task has ended, and the supervisor
// restarts its workers meanwhile, which fault again in the copy being replaced. Those faults must
// not reload it again and again until a quarantine refuses the fresh copy for good.
TEST(RecoveryDecision, FaultsOfTheCopyBeingReplacedDoNotReloadItAgain)
{
    CellFaultHistory history;
    auto policy = policy_of(1000, 2, 3);
    std::uint64_t now = 5000 * kMs;
    EXPECT_EQ(decide_for_cell(history, policy, now).action, CellAction::None);
    EXPECT_EQ(decide_for_cell(history, policy, now += kMs).action, CellAction::Reload);
    EXPECT_TRUE(history.reload_pending);
    for (int i = 0; i < 10; ++i) {
        auto pending = decide_for_cell(history, policy, now += kMs);
        EXPECT_EQ(pending.action, CellAction::None) << i;
        EXPECT_TRUE(pending.reload_pending) << i;
    }
    EXPECT_EQ(history.reloads, 1u);
    EXPECT_EQ(history.reloads_in_a_row, 1u);
    EXPECT_EQ(history.faults, 12u);
    // Once the new copy is in, its own faults count again.
    reload_done(history);
    EXPECT_EQ(decide_for_cell(history, policy, now += kMs).action, CellAction::None);
    auto again = decide_for_cell(history, policy, now += kMs);
    EXPECT_EQ(again.action, CellAction::Reload);
    EXPECT_EQ(again.reload_number, 2u);
}

TEST(RecoveryDecision, AReloadThatNeverTookEffectStopsBeingPendingAfterTheWindow)
{
    CellFaultHistory history;
    auto policy = policy_of(100, 2, 3);
    EXPECT_EQ(decide_for_cell(history, policy, 1000 * kMs).action, CellAction::None);
    EXPECT_EQ(decide_for_cell(history, policy, 1001 * kMs).action, CellAction::Reload);
    EXPECT_EQ(decide_for_cell(history, policy, 1050 * kMs).action, CellAction::None);  // pending
    // The reload failed (no reload_done): a window later the faults count again.
    EXPECT_EQ(decide_for_cell(history, policy, 1200 * kMs).action, CellAction::None);
    EXPECT_FALSE(history.reload_pending);
    EXPECT_EQ(decide_for_cell(history, policy, 1201 * kMs).action, CellAction::Reload);
}

TEST(RecoveryDecision, AQuietPeriodForgivesEarlierReloads)
{
    CellFaultHistory history;
    auto policy = policy_of(100, 1, 2);
    EXPECT_EQ(decide_for_cell(history, policy, 1000 * kMs).action, CellAction::Reload);
    reload_done(history);
    EXPECT_EQ(decide_for_cell(history, policy, 1001 * kMs).action, CellAction::Reload);
    reload_done(history);
    // Ten windows later the cell is given its reloads again instead of a quarantine.
    auto later = decide_for_cell(history, policy, (1001 + kQuietWindows * 100) * kMs);
    EXPECT_EQ(later.action, CellAction::Reload);
    EXPECT_EQ(later.reload_number, 1u);
}

TEST(RecoveryDecision, AFaultSoonAfterASwapRollsBack)
{
    CellFaultHistory history;
    history.swapped_at_ns = 1000 * kMs;
    history.can_roll_back = true;
    RecoveryPolicy policy;  // 10 s rollback window
    auto decision = decide_for_cell(history, policy, 1500 * kMs);
    EXPECT_EQ(decision.action, CellAction::Rollback);
    EXPECT_EQ(history.rollbacks, 1u);
    EXPECT_FALSE(history.can_roll_back);
    // Rolled back: the next faults follow the ordinary rules.
    EXPECT_EQ(decide_for_cell(history, policy, 1600 * kMs).action, CellAction::None);
}

// The swap's commit and the fault read their clocks on different CPUs: a first call right after
// the commit may read a time a little before it. Still a fault at once after the swap.
TEST(RecoveryDecision, AFaultTimedJustBeforeTheSwapCommitStillRollsBack)
{
    CellFaultHistory history;
    history.swapped_at_ns = 1000 * kMs;
    history.can_roll_back = true;
    RecoveryPolicy policy;
    auto decision = decide_for_cell(history, policy, 1000 * kMs - 3000);  // 3 us "earlier"
    EXPECT_EQ(decision.action, CellAction::Rollback);
    EXPECT_EQ(history.rollbacks, 1u);
}

TEST(RecoveryDecision, AFaultLongAfterASwapDoesNotRollBack)
{
    CellFaultHistory history;
    history.swapped_at_ns = 1000 * kMs;
    history.can_roll_back = true;
    RecoveryPolicy policy;
    policy.rollback_window_ns = 100 * kMs;
    EXPECT_EQ(decide_for_cell(history, policy, 1500 * kMs).action, CellAction::None);
    policy.rollback_window_ns = 0;  // never
    history.swapped_at_ns = 1499 * kMs;
    EXPECT_NE(decide_for_cell(history, policy, 1500 * kMs).action, CellAction::Rollback);
}

TEST(RecoveryDecision, ARestartableTaskIsGivenUpOnAfterMaxRestartsInTheWindow)
{
    RestartHistory history;
    RecoveryPolicy policy = policy_of(100, 2, 3);
    policy.max_restarts = 3;
    std::uint64_t now = 1000 * kMs;
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(decide_restart(history, policy, now += kMs)) << i;
    EXPECT_FALSE(decide_restart(history, policy, now += kMs));
    EXPECT_TRUE(history.gave_up);
    EXPECT_FALSE(decide_restart(history, policy, now + 1000 * kMs));  // given up stays given up
    EXPECT_EQ(history.restarts, 3u);
}

TEST(RecoveryDecision, RestartsSpreadOverTimeGoOnForever)
{
    RestartHistory history;
    RecoveryPolicy policy = policy_of(100, 2, 3);
    policy.max_restarts = 2;
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(decide_restart(history, policy, (1000 + 60 * i) * kMs)) << i;
}

TEST(RecoveryDecision, PoliciesThatCannotWorkAreRefused)
{
    EXPECT_FALSE(validate_policy(RecoveryPolicy{}).is_error());
    EXPECT_TRUE(validate_policy(policy_of(0, 2, 3)).is_error());
    EXPECT_TRUE(validate_policy(policy_of(100, 0, 3)).is_error());
    EXPECT_TRUE(validate_policy(policy_of(100, 17, 3)).is_error());
    RecoveryPolicy restarts;
    restarts.max_restarts = 33;
    EXPECT_TRUE(validate_policy(restarts).is_error());
}
