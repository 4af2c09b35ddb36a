// crash_recovery_test.cpp: delosd killed with -9 in the middle of a fault storm and started
// again on the same state: every fault it had stored is still there, none twice; a
// `delosctl faults --follow` that was watching resumes by itself and ends up with exactly the
// stored faults, each once; VMs come back in the state they were in.
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "controller_harness.h"
#include "scripted_guest.h"

namespace delos::test {
namespace {

std::vector<std::uint64_t> sequences_in(const std::string& json_lines)
{
    std::vector<std::uint64_t> sequences;
    std::regex pattern("\"sequence\":\"([0-9]+)\"");
    for (auto it = std::sregex_iterator(json_lines.begin(), json_lines.end(), pattern); it != std::sregex_iterator(); ++it)
        sequences.push_back(std::stoull((*it)[1]));
    return sequences;
}

std::vector<std::uint64_t> stored_sequences(const std::string& server)
{
    return sequences_in(delosctl(server, {"-o", "json", "faults"}).out);
}

TEST(DelosdCrash, KillNineMidStormLosesAndDuplicatesNothing)
{
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    std::string server = delosd.server();
    ScriptedGuest guest(dir / "g.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "storm", dir / "g.sock"));

    BackgroundProcess follower({bin("delosctl"), "--server", server, "-o", "json", "faults", "--follow"});
    std::atomic<bool> storming{true};
    std::atomic<std::uint64_t> next{1};
    std::thread storm([&] {
        auto report = make_fault("kv", v1::FAULT_KIND_GENERAL_PROTECTION, "storm");
        while (storming) {
            std::uint64_t sequence = next.load();
            if (guest.send_fault(sequence, report))
                next = sequence + 1;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    ASSERT_TRUE(eventually([&] { return stored_sequences(server).size() >= 100; })) << delosd.log();
    delosd.kill9();
    std::uint64_t sent_before_kill = next.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(delosd.start()) << delosd.log();
    ASSERT_TRUE(eventually([&] { return vm_state(server, "storm") == "VM_STATE_RUNNING"; })) << delosd.log();
    // Re-deliver everything sent so far, as a guest that resends unacknowledged reports would.
    for (std::uint64_t sequence = 1; sequence < sent_before_kill; ++sequence)
        guest.send_fault(sequence, make_fault("kv", v1::FAULT_KIND_GENERAL_PROTECTION, "storm"));
    ASSERT_TRUE(eventually([&] { return stored_sequences(server).size() >= 250; })) << delosd.log();
    storming = false;
    storm.join();
    std::uint64_t sent = next.load() - 1;
    ASSERT_TRUE(eventually([&] { return stored_sequences(server).size() == sent; }, std::chrono::seconds(15)))
        << "stored " << stored_sequences(server).size() << " of " << sent << "\n" << delosd.log();

    std::vector<std::uint64_t> stored = stored_sequences(server);
    std::set<std::uint64_t> unique(stored.begin(), stored.end());
    EXPECT_EQ(unique.size(), stored.size()) << "a fault was stored twice";
    auto json = delosctl(server, {"-o", "json", "faults"}).out;
    std::set<std::string> guest_sequences;
    std::regex pattern("\"guest_sequence\":\"([0-9]+)\"");
    for (auto it = std::sregex_iterator(json.begin(), json.end(), pattern); it != std::sregex_iterator(); ++it)
        guest_sequences.insert((*it)[1]);
    EXPECT_EQ(guest_sequences.size(), sent) << "the guest's reports 1.." << sent << " are each stored once";

    ASSERT_TRUE(eventually([&] { return sequences_in(follower.out()).size() >= stored.size(); }, std::chrono::seconds(15)))
        << follower.output();
    std::vector<std::uint64_t> followed = sequences_in(follower.out());
    EXPECT_EQ(followed, stored) << "the follower saw each stored fault once, in order, across the restart";
    EXPECT_NE(follower.err().find("resuming after fault"), std::string::npos) << follower.err();
}

TEST(DelosdCrash, RestartKeepsVmsHistoryAndStoppedState)
{
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    std::string server = delosd.server();
    ScriptedGuest guest(dir / "g.sock");
    ASSERT_EQ(delosctl(server, {"vm", "create", "kept", "--runner", "attach", "--socket", dir / "g.sock"}).exit_code, 0);
    ASSERT_EQ(delosctl(server, {"vm", "create", "parked", "--runner", "attach", "--socket", dir / "g.sock"}).exit_code, 0);
    ASSERT_EQ(delosctl(server, {"vm", "stop", "parked"}).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return vm_state(server, "kept") == "VM_STATE_RUNNING"; }));
    std::uint64_t boot = get_vm(delosd, "kept").boot_id();
    delosd.kill9();
    ASSERT_TRUE(delosd.start()) << delosd.log();
    EXPECT_TRUE(eventually([&] { return vm_state(server, "kept") == "VM_STATE_RUNNING"; }));
    EXPECT_EQ(vm_state(server, "parked"), "VM_STATE_STOPPED");
    EXPECT_EQ(get_vm(delosd, "kept").boot_id(), boot) << "the same guest boot, seen again after the restart";
    auto events = delosctl(server, {"events"}).out;
    EXPECT_NE(events.find("vm-created"), std::string::npos) << events;
}

// A rollback, reload or quarantine the guest's own fault recovery took is in the cell history
// and the events, named as the guest's doing; a fault that changed no cell adds nothing there.
TEST(DelosdHistory, TheGuestsOwnRecoveryIsInTheCellHistory)
{
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    std::string server = delosd.server();
    ScriptedGuest guest(dir / "g.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "healed", dir / "g.sock"));

    ASSERT_TRUE(guest.send_fault(1, make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "restarted only")));
    auto rolled_back = make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "kv rolled back");
    rolled_back.set_action(v1::RECOVERY_ACTION_CELL_ROLLED_BACK);
    ASSERT_TRUE(guest.send_fault(2, rolled_back));
    auto reloaded = make_fault("kv", v1::FAULT_KIND_INVALID_OPCODE, "kv reloaded");
    reloaded.set_action(v1::RECOVERY_ACTION_CELL_RELOADED);
    ASSERT_TRUE(guest.send_fault(3, reloaded));
    ASSERT_TRUE(eventually([&] { return stored_sequences(server).size() == 3; })) << delosd.log();

    auto history = delosctl(server, {"cells", "--vm", "healed", "--history"}).out;
    EXPECT_NE(history.find("rolled-back"), std::string::npos) << history;
    EXPECT_NE(history.find("guest recovery (fault 2)"), std::string::npos) << history;
    EXPECT_NE(history.find("reloaded"), std::string::npos) << history;
    EXPECT_NE(history.find("guest recovery (fault 3)"), std::string::npos) << history;
    EXPECT_EQ(history.find("guest recovery (fault 1)"), std::string::npos) << "a task restart changes no cell\n" << history;
    auto events = delosctl(server, {"events", "--vm", "healed"}).out;
    EXPECT_NE(events.find("rolled-back kv@1.0.0 by guest recovery (fault 2)"), std::string::npos) << events;
    EXPECT_NE(events.find("reloaded kv@1.0.0 by guest recovery (fault 3)"), std::string::npos) << events;
}

} // namespace
} // namespace delos::test
