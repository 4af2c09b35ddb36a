// recovery_channel_test.cpp: fault recovery seen from the host, over the control channel, under
// QEMU TCG (q35, virtio-serial-pci; no KVM needed): crashloop's service task faults at every
// start; the host watches the FaultReport events arrive with the cell, symbol and offset and the
// policy's action for each (restart, reload, ... quarantine, by the default policy), sees the
// cell listed as faulted and quarantined with its counts, and the guest keeps answering.
#include <gtest/gtest.h>

#include <unistd.h>

#include <regex>

#include "background_process.h"
#include "vm_test_support.h"

using namespace delos::test;

namespace {

constexpr auto kBootLimit = std::chrono::seconds(240);

std::vector<std::string> actions_in(const std::string& text)
{
    std::vector<std::string> actions;
    std::regex pattern("fault: page-fault in cell crashloop 1\\.0\\.0 at [^+]*crash_now[^ ]*\\+0x[0-9a-f]+ \\(task [0-9]+ "
                       "crashloop-svc, address 0x0, ip 0x[0-9a-f]+\\), action ([a-z-]+)");
    for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it)
        actions.push_back((*it)[1]);
    return actions;
}

class RecoveryOverChannel : public ::testing::Test {
protected:
    void SetUp() override { DELOS_REQUIRE_QEMU(); }

    void boot(const std::string& append)
    {
        m_socket = ::testing::TempDir() + "/delos-recovery-" + std::to_string(::getpid()) + ".sock";
        ::unlink(m_socket.c_str());
        m_vm = std::make_unique<BackgroundProcess>(std::vector<std::string>{
            "qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", "128M", "-nodefaults", "-no-user-config", "-nographic",
            "-no-reboot", "-kernel", kernel_path(), "-initrd", build_path("cells/cells.a"), "-append", append, "-serial", "stdio",
            "-monitor", "none", "-chardev", "socket,id=ctl,path=" + m_socket + ",server=on,wait=off", "-device",
            "virtio-serial-pci,id=vser", "-device", "virtserialport,bus=vser.0,name=org.delos.control.0,chardev=ctl"});
        ASSERT_TRUE(m_vm->wait_for_output("control: serving the channel", kBootLimit)) << m_vm->output();
    }
    void TearDown() override { ::unlink(m_socket.c_str()); }

    ChildResult chan(std::vector<std::string> arguments)
    {
        arguments.insert(arguments.begin(), {build_path("bin/delos-chan"), "--socket", m_socket, "--timeout", "120"});
        return run_child(arguments, {std::chrono::seconds(240), ""});
    }

    // One session watching the guest's events until `faults` fault events came (or 120 s): it keeps
    // the channel open while the faults come (events while no host is connected are not kept).
    // Not a count of pings as a clock: on an idle machine 20,000 pings ended before the first fault.
    std::string watch_faults(std::size_t faults)
    {
        BackgroundProcess watch({build_path("bin/delos-chan"), "--socket", m_socket, "watch"});
        watch.wait_for_output("), action ", std::chrono::seconds(120), static_cast<int>(faults));
        return watch.out();
    }

    std::string m_socket;
    std::unique_ptr<BackgroundProcess> m_vm;
};

} // namespace

TEST_F(RecoveryOverChannel, ACrashLoopingServiceIsRestartedReloadedAndQuarantined)
{
    boot("run");
    auto push = chan({"push", build_path("cells/crashloop.o"), "--no-progress", "--load"});
    ASSERT_EQ(push.exit_code, 0) << push.out << push.err << m_vm->output();
    // Default policy: a fault restarts the service; the second within 1 s reloads the cell; after
    // 3 reloads the next one quarantines it. (The service's first start waits 3 s.)
    std::vector<std::string> expected = {"task-restarted", "cell-reloaded", "task-restarted", "cell-reloaded",
                                         "task-restarted", "cell-reloaded", "task-restarted", "cell-quarantined"};
    std::string events = watch_faults(expected.size());
    std::vector<std::string> actions = actions_in(events);
    EXPECT_EQ(actions, expected) << events << m_vm->output();
    EXPECT_TRUE(m_vm->wait_for_output("cell crashloop quarantined (", std::chrono::seconds(60))) << m_vm->output();

    auto list = chan({"list"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_TRUE(std::regex_search(list.out, std::regex("crashloop +1\\.0\\.0 +4 +faulted"))) << list.out;  // generation 4
    EXPECT_TRUE(std::regex_search(list.out, std::regex("crashloop +8 +4 +3 +0 +1000 ms, 2 faults, 3 reloads, 10000 ms, 8 restarts "
                                                       "\\(default\\)  QUARANTINED")))
        << list.out;
    EXPECT_TRUE(std::regex_search(list.out, std::regex("kv +0 +0 +0 +0 +1000 ms"))) << list.out;
    auto json = chan({"--json", "list"});
    EXPECT_NE(json.out.find("\"quarantined\":true"), std::string::npos) << json.out;
    // The guest is up and answers; its service is stopped (no more faults come).
    auto ping = chan({"ping", "--count", "20"});
    EXPECT_EQ(ping.exit_code, 0) << ping.err;
    EXPECT_EQ(actions_in(ping.err).size(), 0u) << ping.err;
    EXPECT_EQ(m_vm->out().find("delos: PANIC"), std::string::npos) << m_vm->output();
}

// The guest-wide default policy from the command line, and a cell's own over the channel
// (`delos-chan policy`): crashloop gets two reloads, then quarantine; other cells keep the default.
TEST_F(RecoveryOverChannel, PoliciesComeFromTheCommandLineAndTheChannel)
{
    boot("run recovery.max_reloads=1 recovery.window_ms=5000");
    auto set = chan({"policy", "crashloop", "window_ms=4000", "max_reloads=2"});
    ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
    EXPECT_NE(set.out.find("recovery policy of cell crashloop: window 4000 ms, reload after 2 faults, quarantine after 2 reloads"),
              std::string::npos) << set.out;
    EXPECT_NE(chan({"policy", "crashloop", "window_ms=0"}).exit_code, 0);  // refused by the guest: no window
    auto push = chan({"push", build_path("cells/crashloop.o"), "--no-progress", "--load"});
    ASSERT_EQ(push.exit_code, 0) << push.out << push.err << m_vm->output();
    std::vector<std::string> expected = {"task-restarted", "cell-reloaded", "task-restarted", "cell-reloaded",
                                         "task-restarted", "cell-quarantined"};
    std::string events = watch_faults(expected.size());
    EXPECT_EQ(actions_in(events), expected) << events << m_vm->output();
    auto list = chan({"list"});
    EXPECT_TRUE(std::regex_search(list.out, std::regex("crashloop +6 +3 +2 +0 +4000 ms, 2 faults, 2 reloads, 10000 ms, 8 restarts "
                                                       "\\(set\\)  QUARANTINED")))
        << list.out;
    EXPECT_TRUE(std::regex_search(list.out, std::regex("kv +0 +0 +0 +0 +5000 ms, 2 faults, 1 reloads, 10000 ms, 8 restarts \\(default\\)")))
        << list.out;
}

// docs/deadlocks.md: a cell whose two service tasks take its two locks in opposite orders,
// pushed and loaded over the channel. The wait that closes the cycle is ended: the host gets a
// FaultReport event of kind deadlock naming the cell and the function that asked for the lock
// (the policy restarts that service), the fault ring says the same, and the guest runs on.
TEST_F(RecoveryOverChannel, ACellDeadlockIsUnwoundAndReportedAsADeadlock)
{
    boot("run");
    auto push = chan({"push", build_path("cells/deadlock.o"), "--no-progress", "--load"});
    ASSERT_EQ(push.exit_code, 0) << push.out << push.err << m_vm->output();
    // The services wait 1.5 s before they deadlock; a session of pings watches the events.
    auto pings = chan({"ping", "--count", "20000"});
    ASSERT_EQ(pings.exit_code, 0) << pings.err << m_vm->output();
    std::smatch event;
    ASSERT_TRUE(std::regex_search(pings.err, event,
                                  std::regex("event: fault: deadlock in cell deadlock 1\\.0\\.0 at [^+]*take_both[^ ]*\\+0x[0-9a-f]+ "
                                             "\\(task [0-9]+ (deadlock-fwd|deadlock-back), address 0x[0-9a-f]+, ip 0x[0-9a-f]+\\), "
                                             "action ([a-z-]+)")))
        << pings.err << m_vm->output();
    EXPECT_EQ(event[2], "task-restarted") << pings.err;
    // Exactly one of the two was unwound: the other finished its round.
    const std::regex deadlock_event("event: fault: deadlock");
    EXPECT_EQ(std::distance(std::sregex_iterator(pings.err.begin(), pings.err.end(), deadlock_event), std::sregex_iterator()), 1)
        << pings.err;
    auto faults = chan({"faults"});
    ASSERT_EQ(faults.exit_code, 0) << faults.err;
    EXPECT_NE(faults.out.find("deadlock (vector 258, error 0x1) in cell deadlock@1.0.0"), std::string::npos) << faults.out;
    EXPECT_NE(faults.out.find("its lock wait closed a cycle of waits"), std::string::npos) << faults.out;
    auto json = chan({"--json", "faults"});
    EXPECT_NE(json.out.find("\"kind\":\"FAULT_KIND_DEADLOCK\""), std::string::npos) << json.out;
    EXPECT_TRUE(m_vm->wait_for_output("DEADLOCK task unwound from a lock wait (vector 258) error 0x1", std::chrono::seconds(10)))
        << m_vm->output();
    auto ping = chan({"ping", "--count", "5"});
    EXPECT_EQ(ping.exit_code, 0) << ping.err;
    EXPECT_EQ(m_vm->out().find("delos: PANIC"), std::string::npos) << m_vm->output();
}
