// qemu_fleet_test.cpp: the fleet end to end with real Delos guests: three delosd processes (each
// its own state directory, socket, TCP port with mutual TLS) running three guests each under QEMU
// TCG (-M microvm, 32 MiB; the built kernel and boot cells shared by all nine). Every guest runs
// rollout_probe 1.0.0 with rollout_load calling it every 20 ms. A good version (rollout_probe
// 2.0.0) rolls out to all nine in stages; a bad one (2.1.0, faults whenever it is called) is
// stopped at the canary by its first fault report and rolled back, and no guest is left on it.
#include <gtest/gtest.h>

#include <filesystem>

#include "fleet_harness.h"
#include "skip_unless.h"

namespace delos::test {
namespace {

int guests_running(Fleet& fleet, const std::string& version)
{
    auto cells = fleet.ctl({"-o", "json", "cells"});
    std::string needle = "\"name\":\"rollout_probe\",\"version\":\"" + version + "\",\"state\":\"CELL_STATE_LOADED\"";
    int count = 0;
    for (std::size_t at = cells.out.find(needle); at != std::string::npos; at = cells.out.find(needle, at + 1))
        ++count;
    return count;
}

TEST(QemuFleet, GoodVersionRollsOutToAllAndAFaultingOneIsRolledBackAtTheCanary)
{
    DELOS_REQUIRE_QEMU();
    DELOS_REQUIRE_OPENSSL();
    std::string guest = guest_build_dir();
    ASSERT_TRUE(std::filesystem::exists(guest + "/guest/delos.elf")) << "build the guest: cmake --build build --target guest cells";
    TempDir dir;
    Fleet fleet(dir.path(), {"a", "b", "c"});
    ASSERT_TRUE(fleet.ready());
    ASSERT_TRUE(fleet.start_all()) << fleet.logs();
    for (std::size_t h = 0; h < fleet.size(); ++h)
        for (int g = 1; g <= 3; ++g) {
            auto created = delosctl(fleet.host(h).server(),
                                    {"vm", "create", "g" + std::to_string(g), "--runner", "qemu", "--kernel", guest + "/guest/delos.elf",
                                     "--module", guest + "/cells/cells.a", "--cmdline", "run", "--memory", "32"});
            ASSERT_EQ(created.exit_code, 0) << created.err;
        }
    for (std::size_t h = 0; h < fleet.size(); ++h)
        for (int g = 1; g <= 3; ++g) {
            std::string vm = "g" + std::to_string(g);
            ASSERT_TRUE(eventually([&] { return vm_state(fleet.host(h).server(), vm) == "VM_STATE_RUNNING"; }, std::chrono::seconds(180)))
                << fleet.name(h) << "/" << vm << " never ran\n" << read_file(dir / (fleet.name(h) + "/state/vms/" + vm + "/serial.log"));
            for (const char* cell : {"rollout_probe", "rollout_load"}) {
                auto pushed = delosctl(fleet.host(h).server(), {"push", guest + "/cells/" + cell + ".o", "--vm", vm, "--load"});
                ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
            }
        }
    ASSERT_EQ(guests_running(fleet, "1.0.0"), 9);

    auto good = fleet.ctl({"rollout", guest + "/cells/rollout_probe.v2.o", "--canary", "1", "--batch", "4", "--bake", "2s"},
                          std::chrono::seconds(300));
    ASSERT_EQ(good.exit_code, 0) << good.out << good.err << fleet.logs();
    EXPECT_EQ(guests_running(fleet, "2.0.0"), 9) << fleet.ctl({"cells"}).out;

    auto bad = fleet.ctl({"rollout", guest + "/cells/rollout_probe.bad.o", "--canary", "1", "--batch", "4", "--bake", "60s"},
                         std::chrono::seconds(300));
    EXPECT_EQ(bad.exit_code, 7) << bad.out << bad.err;
    EXPECT_NE(bad.out.find("rolled-back"), std::string::npos) << bad.out;
    v1::Rollout record = fleet.rollout(2);
    EXPECT_EQ(record.state(), v1::ROLLOUT_STATE_ROLLED_BACK) << record.DebugString();
    EXPECT_NE(record.outcome().find("page-fault"), std::string::npos) << record.outcome();
    EXPECT_NE(record.outcome().find("rollout_probe@2.1.0"), std::string::npos) << record.outcome();
    EXPECT_EQ(record.stage(), 0u) << "stopped at the canary\n" << bad.out << record.DebugString();
    for (const v1::RolloutTarget& target : record.targets())
        EXPECT_EQ(target.state(), target.stage() == 0 ? v1::ROLLOUT_TARGET_STATE_ROLLED_BACK : v1::ROLLOUT_TARGET_STATE_SKIPPED)
            << target.DebugString();
    EXPECT_EQ(guests_running(fleet, "2.1.0"), 0) << fleet.ctl({"cells"}).out;
    EXPECT_EQ(guests_running(fleet, "2.0.0"), 9) << fleet.ctl({"cells"}).out;
    auto faults = fleet.ctl({"faults", "--cell", "rollout_probe"});
    EXPECT_NE(faults.out.find("rollout_probe@2.1.0"), std::string::npos) << faults.out;
    std::printf("%s", bad.out.c_str());  // what a user sees, kept in the test's output
    std::printf("fault -> whole rollout rolled back: %lld ms\n",
                static_cast<long long>(record.rolled_back_unix_ms() - record.first_fault_unix_ms()));
    for (std::size_t h = 0; h < fleet.size(); ++h)
        for (int g = 1; g <= 3; ++g)
            delosctl(fleet.host(h).server(), {"vm", "rm", "g" + std::to_string(g)});
}

} // namespace
} // namespace delos::test
