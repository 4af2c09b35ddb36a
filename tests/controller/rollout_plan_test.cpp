// rollout_plan_test.cpp: the rollout decisions that need no network (controller/delosd/
// rollout_plan.cpp): stages spread over hosts with the canary first, batch sizes and
// percentages, the fault-rate rule, and the refusals of a StartRollout spec.
#include <gtest/gtest.h>

#include "cell_signature.h"
#include "request_checks.h"
#include "rollout_plan.h"

namespace delos::controller {
namespace {

std::vector<v1::RolloutTarget> fleet_of(int hosts, int guests)
{
    std::vector<v1::RolloutTarget> targets;
    for (int g = guests; g >= 1; --g)  // out of order on purpose
        for (int h = 0; h < hosts; ++h) {
            v1::RolloutTarget target;
            target.set_host(std::string(1, static_cast<char>('a' + h)));
            target.set_vm("g" + std::to_string(g));
            targets.push_back(target);
        }
    return targets;
}

std::string names(const std::vector<v1::RolloutTarget>& targets)
{
    std::string out;
    for (const auto& target : targets)
        out += target.host() + "/" + target.vm() + ":" + std::to_string(target.stage()) + " ";
    return out;
}

TEST(RolloutPlan, CanaryFirstThenBatchesSpreadOverHosts)
{
    auto targets = fleet_of(3, 3);
    v1::RolloutSpec spec;
    spec.set_canary(2);
    spec.set_batch_size(4);
    EXPECT_EQ(plan_stages(targets, spec), 3u);
    EXPECT_EQ(names(targets), "a/g1:0 b/g1:0 c/g1:1 a/g2:1 b/g2:1 c/g2:1 a/g3:2 b/g3:2 c/g3:2 ");
}

TEST(RolloutPlan, PercentAllTheRestAndDefaults)
{
    auto targets = fleet_of(2, 5);  // 10 targets
    v1::RolloutSpec percent;
    percent.set_batch_percent(25);  // ceil(2.5) = 3 per batch after 1 canary: 3, 3, 3
    EXPECT_EQ(plan_stages(targets, percent), 4u);
    auto rest = fleet_of(2, 5);
    EXPECT_EQ(plan_stages(rest, v1::RolloutSpec()), 2u);  // canary 1, then the other 9 at once
    std::vector<v1::RolloutTarget> none;
    EXPECT_EQ(plan_stages(none, v1::RolloutSpec()), 0u);
    auto small = fleet_of(1, 2);
    v1::RolloutSpec big_canary;
    big_canary.set_canary(5);
    EXPECT_EQ(plan_stages(small, big_canary), 1u);
}

TEST(RolloutPlan, FaultRateRule)
{
    EXPECT_FALSE(fault_rate_exceeded(0, 3, 0));
    EXPECT_TRUE(fault_rate_exceeded(1, 3, 0));      // 0: the first fault
    EXPECT_FALSE(fault_rate_exceeded(3, 3, 1.0));   // one per guest allowed
    EXPECT_TRUE(fault_rate_exceeded(4, 3, 1.0));
    EXPECT_TRUE(fault_rate_exceeded(1, 0, 100.0));  // a fault with no guest counted: roll back
}

TEST(RolloutPlan, SpecRefusals)
{
    v1::RolloutSpec good;
    good.set_cell("kv");
    good.set_object("object bytes");
    good.set_sha256(sha256_of(good.object()));
    EXPECT_NO_THROW(check_rollout_spec(good));
    auto refused = [&](auto change, const std::string& says) {
        v1::RolloutSpec spec = good;
        change(spec);
        try {
            check_rollout_spec(spec);
            ADD_FAILURE() << "accepted: " << says;
        } catch (const RpcError& error) {
            EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT);
            EXPECT_NE(std::string(error.what()).find(says), std::string::npos) << error.what();
        }
    };
    refused([](auto& s) { s.set_cell("Bad Name"); }, "not a valid cell name");
    refused([](auto& s) { s.clear_object(); }, "no object");
    refused([](auto& s) { s.set_object(std::string(kMaxRolloutObjectBytes + 1, 'x')); }, "at most");
    refused([](auto& s) { s.set_sha256(std::string(32, 'x')); }, "does not match");
    refused([](auto& s) { s.set_batch_percent(101); }, "batch_percent");
    refused([](auto& s) { s.set_batch_percent(10); s.set_batch_size(2); }, "not both");
    refused([](auto& s) { s.set_max_fault_rate(-1); }, "max_fault_rate");
    refused([](auto& s) { s.set_bake_ms(kMaxRolloutBakeMs + 1); }, "24 h");
    refused([](auto& s) { s.add_hosts("../etc"); }, "host name");
    refused([](auto& s) { s.add_vms("a/b/c"); }, "not a VM name");
    refused([](auto& s) { s.set_signature("short"); }, "64 bytes");
}

TEST(RolloutPlan, VmSelection)
{
    v1::RolloutSpec spec;
    EXPECT_TRUE(target_selected(spec, "a", "g1"));
    spec.add_vms("b/g1");
    spec.add_vms("g2");
    EXPECT_FALSE(target_selected(spec, "a", "g1"));
    EXPECT_TRUE(target_selected(spec, "b", "g1"));
    EXPECT_TRUE(target_selected(spec, "c", "g2"));
}

} // namespace
} // namespace delos::controller
