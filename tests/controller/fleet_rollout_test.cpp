// fleet_rollout_test.cpp: a fleet of three real delosd processes (a, b, c; each its own state
// directory, socket and TCP port, mutual TLS between delosctl and the delosds and among the
// delosds) with three guests each (delos-fake-guest's agent, so these run in seconds; the same
// scenario with real guests under QEMU TCG is qemu_fleet_test.cpp). Shows: `delosctl --fleet`
// merges every host's answer and names a host that is down without stopping; a good version
// rolls out to all nine guests in stages; a fault of the new version at the canary rolls it back
// everywhere it went and no guest is left on it; a guest running the new version that crashes
// rolls it back; pause holds a rollout, abort rolls it back; a rollout survives kill -9 of its
// coordinator and finishes after the restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <sstream>

#include "cell_signature.h"
#include "fake_guest.h"
#include "fleet_harness.h"
#include "skip_unless.h"

namespace delos::test {
namespace {

class FleetRollout : public ::testing::Test {
protected:
    void SetUp() override
    {
        DELOS_REQUIRE_OPENSSL();
        ASSERT_TRUE(fleet.ready()) << "could not make the certificates";
        ASSERT_TRUE(fleet.start_all()) << fleet.logs();
        for (std::size_t h = 0; h < fleet.size(); ++h) {
            for (int g = 1; g <= 3; ++g) {
                std::string vm = "g" + std::to_string(g);
                std::string socket = dir / (fleet.name(h) + "-" + vm + ".sock");
                guests[fleet.name(h) + "/" + vm] = std::make_unique<chan::FakeGuest>(socket);
                auto created = delosctl(fleet.host(h).server(), {"vm", "create", vm, "--runner", "attach", "--socket", socket});
                ASSERT_EQ(created.exit_code, 0) << created.err;
            }
        }
        for (std::size_t h = 0; h < fleet.size(); ++h)
            for (int g = 1; g <= 3; ++g)
                ASSERT_TRUE(eventually([&] { return vm_state(fleet.host(h).server(), "g" + std::to_string(g)) == "VM_STATE_RUNNING"; }))
                    << fleet.logs();
    }

    // Starts a rollout of kv.v2.o (kv 1.2.0 -> 2.0.0) detached; returns its id.
    std::uint64_t start(std::vector<std::string> options)
    {
        std::vector<std::string> args = {"-o", "json", "rollout", cell_object("kv.v2"), "--detach"};
        args.insert(args.end(), options.begin(), options.end());
        auto started = fleet.ctl(args);
        EXPECT_EQ(started.exit_code, 0) << started.err << fleet.logs();
        std::smatch match;
        if (!std::regex_search(started.out, match, std::regex("\"id\":\"([0-9]+)\"")))
            return 0;
        return std::stoull(match[1]);
    }
    bool reaches(std::uint64_t id, v1::RolloutState state, std::chrono::seconds limit = std::chrono::seconds(60))
    {
        return eventually([&] { return fleet.rollout(id).state() == state; }, limit);
    }
    // How many guests of the fleet run kv at `version`, from `delosctl --fleet cells`.
    int guests_on(const std::string& version)
    {
        auto cells = fleet.ctl({"-o", "json", "cells"});
        int count = 0;
        std::string needle = "\"name\":\"kv\",\"version\":\"" + version + "\"";
        for (std::size_t at = cells.out.find(needle); at != std::string::npos; at = cells.out.find(needle, at + 1))
            ++count;
        return count;
    }
    void emit_kv_fault(const std::string& guest, const std::string& version)
    {
        channel::FaultReport report;
        report.cell_name = String(StringView("kv", 2));
        report.cell_version = String(StringView(version.data(), version.size()));
        report.kind = channel::FaultKind::PageFault;
        report.symbol = String(StringView("kv::put", 7));
        report.symbol_offset = 0x2a;
        ASSERT_TRUE(guests.at(guest)->emit_fault(std::move(report)));
    }

    TempDir dir;
    Fleet fleet{dir.path(), {"a", "b", "c"}};
    std::map<std::string, std::unique_ptr<chan::FakeGuest>> guests;
};

TEST_F(FleetRollout, FleetReadsMergeEveryHostAndNameTheOneThatIsDown)
{
    auto listed = fleet.ctl({"vm", "ls"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    auto rows_of = [](const std::string& table, const std::string& host) {
        int rows = 0;
        std::istringstream lines(table);
        for (std::string line; std::getline(lines, line);)
            rows += line.rfind(host + " ", 0) == 0;
        return rows;
    };
    for (const char* host : {"a", "b", "c"})
        EXPECT_EQ(rows_of(listed.out, host), 3) << listed.out;
    emit_kv_fault("b/g2", "1.2.0");
    ASSERT_TRUE(eventually([&] { return fleet.ctl({"faults"}).out.find("kv::put+0x2a") != std::string::npos; }));
    auto faults = fleet.ctl({"faults"});
    EXPECT_NE(faults.out.find("b "), std::string::npos) << faults.out;

    fleet.host(1).kill9();  // b is down: a and c still answer, b is shown as unreachable
    auto partial = fleet.ctl({"vm", "ls"});
    EXPECT_EQ(partial.exit_code, 3) << partial.err;
    EXPECT_NE(partial.out.find("unreachable"), std::string::npos) << partial.out;
    EXPECT_NE(partial.err.find("host b unreachable"), std::string::npos) << partial.err;
    EXPECT_EQ(rows_of(partial.out, "a"), 3) << partial.out;
    EXPECT_EQ(rows_of(partial.out, "c"), 3) << partial.out;
    EXPECT_EQ(rows_of(partial.out, "b"), 1) << partial.out;  // one row: unreachable
    auto json = fleet.ctl({"-o", "json", "cells"});
    EXPECT_NE(json.out.find("{\"host\":\"b\",\"reachable\":false"), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("{\"host\":\"c\",\"reachable\":true"), std::string::npos) << json.out;
}

TEST_F(FleetRollout, FleetFileMistakesAreRefusedClearly)
{
    write_file(dir / "bad.json", "{\"hosts\": [{\"name\": \"a\", \"address\": \"tcp:127.0.0.1:1\"}], \"tsl\": {}}");
    auto typo = delosctl("unix:/unused", {"--fleet", dir / "bad.json", "vm", "ls"});
    EXPECT_EQ(typo.exit_code, 2) << typo.err;
    EXPECT_NE(typo.err.find("tsl"), std::string::npos) << typo.err;
    write_file(dir / "bad.json", "{\"hosts\": [{\"name\": \"a\", \"address\": \"tcp:127.0.0.1:1\"}]}");
    auto no_tls = delosctl("unix:/unused", {"--fleet", dir / "bad.json", "vm", "ls"});
    EXPECT_EQ(no_tls.exit_code, 2) << no_tls.err;
    EXPECT_NE(no_tls.err.find("mutual TLS"), std::string::npos) << no_tls.err;
    write_file(dir / "bad.json", "{\"hosts\": [{\"name\": \"a\", \"address\": \"unix:/x\"}, {\"name\": \"a\", \"address\": \"unix:/y\"}]}");
    auto twice = delosctl("unix:/unused", {"--fleet", dir / "bad.json", "vm", "ls"});
    EXPECT_EQ(twice.exit_code, 2) << twice.err;
    EXPECT_NE(twice.err.find("named twice"), std::string::npos) << twice.err;
}

TEST_F(FleetRollout, GoodVersionReachesEveryGuestInStages)
{
    ASSERT_EQ(guests_on("1.2.0"), 9);
    auto rolled = fleet.ctl({"rollout", cell_object("kv.v2"), "--canary", "1", "--batch", "4", "--bake", "300ms"});
    ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err << fleet.logs();
    EXPECT_NE(rolled.out.find("succeeded"), std::string::npos) << rolled.out;
    EXPECT_NE(rolled.out.find("stage 1 of 3 (canary): swapping 1 guest"), std::string::npos) << rolled.out;
    EXPECT_NE(rolled.out.find("stage 3 of 3: swapping 4 guests"), std::string::npos) << rolled.out;
    EXPECT_EQ(guests_on("2.0.0"), 9);
    v1::Rollout record = fleet.rollout(1);
    EXPECT_EQ(record.state(), v1::ROLLOUT_STATE_SUCCEEDED);
    EXPECT_EQ(record.requested_by(), "tls:alice");
    EXPECT_EQ(record.stages(), 3u);
    EXPECT_EQ(record.targets(0).host() + "/" + record.targets(0).vm(), "a/g1");  // canary: first guest of the first host
    // The peers recorded the swaps as the coordinator's, for the rollout.
    auto history = delosctl(fleet.host(2).server(), {"cells", "--vm", "g3", "--history"});
    EXPECT_NE(history.out.find("tls:coordinator"), std::string::npos) << history.out;
    auto listed = fleet.ctl({"rollout", "ls", "--all"});
    EXPECT_NE(listed.out.find("succeeded"), std::string::npos) << listed.out;
}

TEST_F(FleetRollout, FaultOfTheNewVersionAtTheCanaryRollsBackEverywhereItWent)
{
    std::uint64_t id = start({"--canary", "2", "--batch", "50%", "--bake", "60s"});
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_BAKING)) << fleet.rollout(id).DebugString() << fleet.logs();
    v1::Rollout baking = fleet.rollout(id);
    ASSERT_EQ(baking.targets(0).state(), v1::ROLLOUT_TARGET_STATE_SWAPPED);
    ASSERT_EQ(baking.targets(1).state(), v1::ROLLOUT_TARGET_STATE_SWAPPED);
    EXPECT_EQ(guests_on("2.0.0"), 2);
    // A fault of the old version elsewhere is not the new version's.
    emit_kv_fault("c/g3", "1.2.0");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(fleet.rollout(id).state(), v1::ROLLOUT_STATE_BAKING);
    emit_kv_fault(baking.targets(1).host() + "/" + baking.targets(1).vm(), "2.0.0");
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_ROLLED_BACK, std::chrono::seconds(20))) << fleet.rollout(id).DebugString();
    v1::Rollout done = fleet.rollout(id);
    EXPECT_NE(done.outcome().find("fault rate"), std::string::npos) << done.outcome();
    EXPECT_EQ(done.faults(), 1u);
    EXPECT_GT(done.first_fault_unix_ms(), 0);
    EXPECT_GE(done.rolled_back_unix_ms(), done.first_fault_unix_ms());
    for (const v1::RolloutTarget& target : done.targets())
        EXPECT_EQ(target.state(), target.stage() == 0 ? v1::ROLLOUT_TARGET_STATE_ROLLED_BACK : v1::ROLLOUT_TARGET_STATE_SKIPPED)
            << target.DebugString();
    EXPECT_EQ(guests_on("2.0.0"), 0);
    EXPECT_EQ(guests_on("1.2.0"), 9);
    auto watched = fleet.ctl({"rollout", "watch", std::to_string(id)});
    EXPECT_EQ(watched.exit_code, 7) << watched.out;
    EXPECT_NE(watched.out.find("rolled-back"), std::string::npos) << watched.out;
}

TEST_F(FleetRollout, GuestRunningTheNewVersionThatCrashesRollsItBack)
{
    auto created = delosctl(fleet.host(2).server(), {"vm", "create", "p1", "--runner", "command", "--", bin("delos-fake-guest"),
                                                     "--socket", "{control_socket}"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return vm_state(fleet.host(2).server(), "p1") == "VM_STATE_RUNNING"; })) << fleet.logs();
    std::uint64_t id = start({"--vm", "c/p1", "--bake", "60s"});
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_BAKING)) << fleet.rollout(id).DebugString() << fleet.logs();
    ASSERT_EQ(fleet.rollout(id).targets_size(), 1);
    int pid = get_vm(fleet.host(2), "p1").pid();
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGKILL);
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_ROLLED_BACK, std::chrono::seconds(20))) << fleet.rollout(id).DebugString();
    EXPECT_NE(fleet.rollout(id).outcome().find("exited"), std::string::npos) << fleet.rollout(id).outcome();
}

TEST_F(FleetRollout, PauseHoldsItAndAbortRollsBack)
{
    std::uint64_t id = start({"--canary", "1", "--batch", "4", "--bake", "500ms"});
    ASSERT_NE(id, 0u);
    auto paused = fleet.ctl({"rollout", "pause", std::to_string(id)});
    ASSERT_EQ(paused.exit_code, 0) << paused.err;
    std::this_thread::sleep_for(std::chrono::seconds(2));
    v1::Rollout held = fleet.rollout(id);
    EXPECT_EQ(held.state(), v1::ROLLOUT_STATE_PAUSED) << held.DebugString();
    EXPECT_EQ(held.stage(), 0u);
    EXPECT_LE(guests_on("2.0.0"), 1);
    auto resumed = fleet.ctl({"rollout", "resume", std::to_string(id)});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    ASSERT_TRUE(eventually([&] { return fleet.rollout(id).stage() >= 1; }, std::chrono::seconds(20))) << fleet.rollout(id).DebugString();
    auto aborted = fleet.ctl({"rollout", "abort", std::to_string(id)});
    ASSERT_EQ(aborted.exit_code, 0) << aborted.err;
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_ABORTED, std::chrono::seconds(20))) << fleet.rollout(id).DebugString();
    EXPECT_EQ(guests_on("2.0.0"), 0);
    EXPECT_EQ(guests_on("1.2.0"), 9);
    EXPECT_NE(fleet.rollout(id).outcome().find("aborted by tls:alice"), std::string::npos) << fleet.rollout(id).outcome();
}

TEST_F(FleetRollout, SurvivesKill9OfItsCoordinator)
{
    std::uint64_t id = start({"--canary", "1", "--batch", "8", "--bake", "3s"});
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_BAKING)) << fleet.rollout(id).DebugString() << fleet.logs();
    fleet.host(0).kill9();
    ASSERT_TRUE(fleet.host(0).start()) << fleet.logs();
    ASSERT_TRUE(reaches(id, v1::ROLLOUT_STATE_SUCCEEDED, std::chrono::seconds(60))) << fleet.rollout(id).DebugString() << fleet.logs();
    EXPECT_EQ(guests_on("2.0.0"), 9);
    bool resumed = false;
    v1::Rollout done = fleet.rollout(id);
    for (const v1::RolloutLogEntry& entry : done.log())
        resumed |= entry.message().find("coordinator restarted") != std::string::npos;
    EXPECT_TRUE(resumed) << done.DebugString();
}

TEST_F(FleetRollout, UnreachableHostFailsItBeforeAnySwap)
{
    fleet.host(2).kill9();
    auto rolled = fleet.ctl({"rollout", cell_object("kv.v2"), "--bake", "0s"});
    EXPECT_EQ(rolled.exit_code, 7) << rolled.out << rolled.err;
    EXPECT_NE(rolled.out.find("hosts unreachable, nothing swapped: c"), std::string::npos) << rolled.out;
    EXPECT_EQ(guests_on("2.0.0"), 0);
    auto only_ab = fleet.ctl({"rollout", cell_object("kv.v2"), "--host", "a", "--host", "b", "--bake", "0s"});
    EXPECT_EQ(only_ab.exit_code, 0) << only_ab.out << only_ab.err;
    EXPECT_EQ(guests_on("2.0.0"), 6);
}

TEST_F(FleetRollout, BadRequestsAreRefused)
{
    auto unknown_host = fleet.ctl({"rollout", cell_object("kv.v2"), "--host", "zz"});
    EXPECT_EQ(unknown_host.exit_code, 5) << unknown_host.err;
    EXPECT_NE(unknown_host.err.find("not in the coordinator's fleet file"), std::string::npos) << unknown_host.err;
    auto nobody = fleet.ctl({"rollout", cell_object("hello")});  // no guest runs hello
    EXPECT_EQ(nobody.exit_code, 7) << nobody.out << nobody.err;
    EXPECT_NE(nobody.out.find("no running guest"), std::string::npos) << nobody.out;
    auto bad_batch = fleet.ctl({"rollout", cell_object("kv.v2"), "--batch", "0%"});
    EXPECT_EQ(bad_batch.exit_code, 2) << bad_batch.err;
    auto missing = fleet.ctl({"rollout", "status", "999"});
    EXPECT_EQ(missing.exit_code, 4) << missing.err;
    // A digest that does not match its object, straight over gRPC.
    v1::StartRolloutRequest request;
    request.mutable_spec()->set_cell("kv");
    request.mutable_spec()->set_object(read_file(cell_object("kv.v2")));
    request.mutable_spec()->set_sha256(std::string(32, 'x'));
    grpc::ClientContext context;
    v1::Rollout response;
    auto status = fleet.host(0).stub()->StartRollout(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_NE(status.error_message().find("sha256"), std::string::npos) << status.error_message();
}

} // namespace
} // namespace delos::test
