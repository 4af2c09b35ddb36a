// delosctl_session_test.cpp: a real delosd driven by delosctl as a user types it: two guests
// (delos-fake-guest agents: the guest's own codec and cell reader on a socket), push and load a
// cell into one while the other is untouched, unload it, the cell history, faults arriving
// and printed as crash reports, a guest process that crashes and is restarted by the policy,
// and exit codes users can script against.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <thread>

#include "cell_signature.h"
#include "controller_harness.h"
#include "fake_guest.h"
#include "scripted_guest.h"

namespace delos::test {
namespace {

class DelosctlSession : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(delosd.start()) << delosd.log();
        server = delosd.server();
    }
    ChildResult ctl(const std::vector<std::string>& args) { return delosctl(server, args); }

    TempDir dir;
    Delosd delosd{dir.path()};
    std::string server;
};

TEST_F(DelosctlSession, TwoVmsPushLoadUnloadAndHistory)
{
    chan::FakeGuest guest_a(dir / "a.sock");
    chan::FakeGuest guest_b(dir / "b.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "alpha", dir / "a.sock"));
    ASSERT_TRUE(attach_running_vm(delosd, "beta", dir / "b.sock"));

    auto listed = ctl({"vm", "ls"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_TRUE(std::regex_search(listed.out, std::regex("alpha +running +attach")) ) << listed.out;
    EXPECT_TRUE(std::regex_search(listed.out, std::regex("beta +running +attach"))) << listed.out;

    auto pushed = ctl({"push", cell_object("hello"), "--vm", "alpha", "--load", "--progress"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
    EXPECT_NE(pushed.out.find("pushed hello@"), std::string::npos) << pushed.out;
    EXPECT_NE(pushed.err.find("100%"), std::string::npos) << "progress bar: " << pushed.err;

    auto cells_a = ctl({"cells", "--vm", "alpha"});
    ASSERT_EQ(cells_a.exit_code, 0) << cells_a.err;
    EXPECT_TRUE(std::regex_search(cells_a.out, std::regex("hello +[0-9.]+ +loaded"))) << cells_a.out;
    auto cells_b = ctl({"cells", "--vm", "beta"});
    EXPECT_EQ(cells_b.out.find("hello"), std::string::npos) << "the other VM got the cell: " << cells_b.out;

    auto unloaded = ctl({"unload", "hello", "--vm", "alpha"});
    ASSERT_EQ(unloaded.exit_code, 0) << unloaded.err;
    cells_a = ctl({"cells", "--vm", "alpha"});
    EXPECT_EQ(cells_a.out.find("hello"), std::string::npos) << cells_a.out;

    auto history = ctl({"-o", "json", "cells", "--vm", "alpha", "--history"});
    ASSERT_EQ(history.exit_code, 0) << history.err;
    EXPECT_NE(history.out.find("\"action\":\"pushed\""), std::string::npos) << history.out;
    EXPECT_NE(history.out.find("\"action\":\"loaded\""), std::string::npos) << history.out;
    EXPECT_NE(history.out.find("\"action\":\"unloaded\""), std::string::npos) << history.out;

    auto events = ctl({"events"});
    EXPECT_NE(events.out.find("cell-loaded"), std::string::npos) << events.out;

    // A fault in the pushed cell names its build: the SHA-256 of the object pushed as hello@1.0.0.
    channel::FaultReport report;
    report.cell_name = String(StringView("hello", 5));
    report.cell_version = String(StringView("1.0.0", 5));
    report.kind = channel::FaultKind::InvalidOpcode;
    report.symbol = String(StringView("hello_main", 10));
    report.symbol_offset = 0x11;
    // The guest's own names for the fault and its place (the fake guest numbers it #1 of its boot).
    report.cell_build_id = String(StringView("00112233445566778899aabbccddeeff00112233"));
    report.section = String(StringView(".text.hello_main"));
    report.section_offset = 0x11;
    report.registers.rsp = 0x41a008;
    report.registers.rip = 0x411011;
    ASSERT_TRUE(guest_a.emit_fault(std::move(report)));
    std::string digest = controller::to_hex(controller::sha256_of(read_file(cell_object("hello"))));
    ASSERT_TRUE(eventually([&] { return ctl({"faults", "--vm", "alpha", "--details"}).out.find("object: sha256 " + digest) != std::string::npos; }))
        << ctl({"faults", "--vm", "alpha", "--details"}).out;
    auto details = ctl({"faults", "--vm", "alpha", "--details"}).out;
    EXPECT_NE(details.find("= hello@1.0.0 build 00112233445566778899aabbccddeeff00112233 .text.hello_main+0x11 = hello_main+0x11"), std::string::npos) << details;
    EXPECT_NE(details.find("guest: fault #1 of boot fa6efa6efa6efa6efa6efa6efa6efa6e"), std::string::npos) << details;
    EXPECT_NE(details.find("rsp 000000000041a008"), std::string::npos) << details;
    EXPECT_NE(details.find("rip 0000000000411011"), std::string::npos) << details;
}

TEST_F(DelosctlSession, PushSwapRollbackAndHistory)
{
    chan::FakeGuest guest(dir / "a.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "theta", dir / "a.sock"));
    auto loaded = ctl({"push", cell_object("counter"), "--vm", "theta", "--load"});
    ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
    auto cells = ctl({"-o", "json", "cells", "--vm", "theta"});
    std::smatch first;
    ASSERT_TRUE(std::regex_search(cells.out, first, std::regex("\"name\":\"counter\",\"version\":\"([^\"]+)\""))) << cells.out;
    std::string v1_version = first[1];

    auto swapped = ctl({"push", cell_object("counter.v2"), "--name", "counter", "--vm", "theta", "--swap"});
    ASSERT_EQ(swapped.exit_code, 0) << swapped.err << delosd.log();
    EXPECT_NE(swapped.out.find("and swapped it in"), std::string::npos) << swapped.out;
    EXPECT_TRUE(std::regex_search(swapped.out, std::regex("swapped counter: " + v1_version + " \\(generation 1\\) -> [^ ]+ \\(generation 2\\)")))
        << swapped.out;
    cells = ctl({"-o", "json", "cells", "--vm", "theta"});
    std::smatch second;
    ASSERT_TRUE(std::regex_search(cells.out, second, std::regex("\"name\":\"counter\",\"version\":\"([^\"]+)\""))) << cells.out;
    std::string v2_version = second[1];
    EXPECT_NE(v2_version, v1_version) << "the swap did not replace the loaded version: " << cells.out;

    // Nothing staged any more: the guest refuses and its reason reaches the user.
    auto again = ctl({"swap", "counter", "--vm", "theta"});
    EXPECT_EQ(again.exit_code, 4) << again.err;
    EXPECT_NE(again.err.find("no staged cell"), std::string::npos) << again.err;

    auto rolled = ctl({"rollback", "counter", "--vm", "theta"});
    ASSERT_EQ(rolled.exit_code, 0) << rolled.err;
    EXPECT_TRUE(std::regex_search(rolled.out, std::regex("rolled back counter: " + v2_version + " \\(generation 2\\) -> " + v1_version)))
        << rolled.out;
    cells = ctl({"-o", "json", "cells", "--vm", "theta"});
    EXPECT_NE(cells.out.find("\"version\":\"" + v1_version + "\""), std::string::npos) << cells.out;

    auto missing = ctl({"rollback", "nosuchcell", "--vm", "theta"});
    EXPECT_EQ(missing.exit_code, 4) << missing.err;
    EXPECT_NE(missing.err.find("refused"), std::string::npos) << missing.err;

    auto history = ctl({"-o", "json", "cells", "--vm", "theta", "--history"});
    ASSERT_EQ(history.exit_code, 0) << history.err;
    EXPECT_NE(history.out.find("\"action\":\"swapped\""), std::string::npos) << history.out;
    EXPECT_NE(history.out.find("\"action\":\"rolled-back\""), std::string::npos) << history.out;
    auto events = ctl({"events"});
    EXPECT_TRUE(std::regex_search(events.out, std::regex("swapped counter " + v1_version + " \\(generation 1\\) -> " + v2_version
                                                        + " \\(generation 2\\) by ")))
        << events.out;
    EXPECT_NE(events.out.find("rolled-back counter " + v2_version + " (generation 2)"), std::string::npos) << events.out;
}

TEST_F(DelosctlSession, FaultsArriveAndPrintAsCrashReports)
{
    ScriptedGuest guest(dir / "g.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "gamma", dir / "g.sock"));
    // A follower started before the fault sees it arrive.
    BackgroundProcess follower({bin("delosctl"), "--server", server, "faults", "--vm", "gamma", "--follow"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(guest.send_fault(5, make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "write to a read-only page")));
    ASSERT_TRUE(follower.wait_for_output("kv::serve", std::chrono::seconds(10))) << follower.output();
    std::string report = follower.out();
    EXPECT_TRUE(std::regex_search(report, std::regex("page-fault \\(vector [0-9]+, error 0x[0-9a-f]+\\) in cell kv@1\\.0\\.0"))) << report;
    EXPECT_NE(report.find("= kv::put+0x2a"), std::string::npos) << report;
    EXPECT_NE(report.find("write to a read-only page"), std::string::npos) << report;

    auto table = ctl({"faults", "--vm", "gamma"});
    ASSERT_EQ(table.exit_code, 0) << table.err;
    EXPECT_TRUE(std::regex_search(table.out, std::regex("gamma +kv@1.0.0 +page-fault +kv::put\\+0x2a"))) << table.out;
    auto filtered = ctl({"faults", "--cell", "log"});
    EXPECT_EQ(filtered.out.find("gamma"), std::string::npos) << "the cell filter let another cell through: " << filtered.out;
}

TEST_F(DelosctlSession, RedeliveredFaultIsStoredOnce)
{
    ScriptedGuest guest(dir / "g.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "delta", dir / "g.sock"));
    auto report = make_fault("kv", v1::FAULT_KIND_PANIC, "assertion failed");
    ASSERT_TRUE(guest.send_fault(9, report));
    ASSERT_TRUE(guest.send_fault(9, report));  // the same event twice on one connection
    guest.hang_up();                           // and again after a reconnect
    ASSERT_TRUE(eventually([&] { return guest.connections() >= 2 && guest.wait_connected(std::chrono::milliseconds(10)); }));
    ASSERT_TRUE(eventually([&] { return vm_state(server, "delta") == "VM_STATE_RUNNING"; }));
    ASSERT_TRUE(guest.send_fault(9, report));
    ASSERT_TRUE(guest.send_fault(10, report));  // a new one, so we know the others were read
    ASSERT_TRUE(eventually([&] { return ctl({"-o", "json", "faults", "--vm", "delta"}).out.find("\"guest_sequence\":\"10\"") != std::string::npos; }))
        << delosd.log();
    auto json = ctl({"-o", "json", "faults", "--vm", "delta"}).out;
    EXPECT_EQ(count_occurrences(json, "\"guest_sequence\":\"9\""), 1) << json;
    EXPECT_EQ(count_occurrences(json, "\"guest_sequence\":\"10\""), 1) << json;
}

TEST_F(DelosctlSession, CrashedGuestIsRecordedAndRestarted)
{
    auto created = ctl({"vm", "create", "eps", "--runner", "command", "--backoff-ms", "50", "--", bin("delos-fake-guest"),
                        "--socket", "{control_socket}"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return vm_state(server, "eps") == "VM_STATE_RUNNING"; })) << delosd.log();
    v1::Vm before = get_vm(delosd, "eps");
    ASSERT_GT(before.pid(), 0);
    ::kill(before.pid(), SIGKILL);
    ASSERT_TRUE(eventually([&] {
        v1::Vm now = get_vm(delosd, "eps");
        return now.restarts() == 1 && now.state() == v1::VM_STATE_RUNNING;
    })) << delosd.log();
    v1::Vm after = get_vm(delosd, "eps");
    EXPECT_NE(after.pid(), before.pid());
    EXPECT_GT(after.boot_id(), before.boot_id());
    auto events = ctl({"events", "--vm", "eps"});
    EXPECT_NE(events.out.find("killed by signal 9"), std::string::npos) << events.out;
    EXPECT_NE(events.out.find("vm-restarting"), std::string::npos) << events.out;

    // Stopped by request: no restart, and the policy "never" leaves an exited guest down.
    ASSERT_EQ(ctl({"vm", "stop", "eps"}).exit_code, 0);
    EXPECT_EQ(vm_state(server, "eps"), "VM_STATE_STOPPED");
    auto never = ctl({"vm", "create", "zeta", "--runner", "command", "--restart", "never", "--", "/bin/sh", "-c",
                      "echo 'guest report: triple fault' >&2; exit 3"});
    ASSERT_EQ(never.exit_code, 0) << never.err;
    ASSERT_TRUE(eventually([&] { return vm_state(server, "zeta") == "VM_STATE_EXITED"; })) << delosd.log();
    auto exited = ctl({"-o", "json", "events", "--vm", "zeta"});
    EXPECT_NE(exited.out.find("exited with code 3"), std::string::npos) << exited.out;
    EXPECT_NE(exited.out.find("guest report: triple fault"), std::string::npos) << "the runner's report: " << exited.out;
    auto table = ctl({"events", "--vm", "zeta"});
    EXPECT_NE(table.out.find("| guest report: triple fault"), std::string::npos) << table.out;
    EXPECT_EQ(get_vm(delosd, "zeta").restarts(), 0u);
}

TEST_F(DelosctlSession, ExitCodesAndClearErrors)
{
    auto missing = ctl({"vm", "get", "nope"});
    EXPECT_EQ(missing.exit_code, 4);
    EXPECT_NE(missing.err.find("no VM named 'nope'"), std::string::npos) << missing.err;
    auto bad_name = ctl({"vm", "create", "Bad Name", "--runner", "attach", "--socket", "/tmp/x"});
    EXPECT_EQ(bad_name.exit_code, 5);
    EXPECT_NE(bad_name.err.find("not valid"), std::string::npos) << bad_name.err;
    auto usage = ctl({"vm", "frobnicate"});
    EXPECT_EQ(usage.exit_code, 2);
    auto unreachable = delosctl("unix:" + dir / "nobody.sock", {"vm", "ls"});
    EXPECT_EQ(unreachable.exit_code, 3);
    EXPECT_NE(unreachable.err.find("cannot reach delosd"), std::string::npos) << unreachable.err;
    auto health = ctl({"health"});
    EXPECT_EQ(health.exit_code, 0) << health.err;
    EXPECT_NE(health.out.find("serving"), std::string::npos);
    chan::FakeGuest guest(dir / "a.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "eta", dir / "a.sock"));
    auto swap = ctl({"swap", "hello", "--vm", "eta"});
    EXPECT_EQ(swap.exit_code, 4) << "nothing loaded to swap: " << swap.err;
    EXPECT_NE(swap.err.find("no loaded cell"), std::string::npos) << "the guest's reason: " << swap.err;
    // The same refusal when delosd sends the swap right behind the push's commit (protocol 2).
    auto pushed_swap = ctl({"push", cell_object("hello"), "--vm", "eta", "--swap"});
    EXPECT_EQ(pushed_swap.exit_code, 4) << "a pushed cell with nothing loaded to swap: " << pushed_swap.err;
    EXPECT_NE(pushed_swap.err.find("no loaded cell"), std::string::npos) << "the guest's reason: " << pushed_swap.err;
    auto again = ctl({"vm", "create", "eta", "--runner", "attach", "--socket", dir / "a.sock"});
    EXPECT_EQ(again.exit_code, 5);
    EXPECT_NE(again.err.find("exists already"), std::string::npos) << again.err;
    auto unknown_cell = ctl({"load", "nosuchcell", "--vm", "eta"});
    EXPECT_EQ(unknown_cell.exit_code, 4) << unknown_cell.err;
    auto json = ctl({"-o", "json", "vm", "ls"});
    EXPECT_EQ(json.out.rfind("{\"vms\":[", 0), 0u) << json.out;
}

TEST_F(DelosctlSession, DeletedVmIsGoneAndItsGuestStopped)
{
    auto created = ctl({"vm", "create", "theta", "--runner", "command", "--", bin("delos-fake-guest"), "--socket",
                        "{control_socket}"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return vm_state(server, "theta") == "VM_STATE_RUNNING"; }));
    pid_t pid = get_vm(delosd, "theta").pid();
    ASSERT_EQ(ctl({"vm", "rm", "theta"}).exit_code, 0);
    EXPECT_EQ(ctl({"vm", "get", "theta"}).exit_code, 4);
    EXPECT_TRUE(eventually([&] { return ::kill(pid, 0) != 0; })) << "the guest process outlived its VM";
}

} // namespace
} // namespace delos::test
