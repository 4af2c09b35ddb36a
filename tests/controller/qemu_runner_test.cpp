// qemu_runner_test.cpp: delosd runs real Delos guests under QEMU TCG (-M microvm,acpi=off,
// virtio-mmio 1.x) with the control port on a socket it owns: the guest process is started with
// its serial log kept and its exit recorded; and, with the guest's virtio-mmio control port
// (branch qemu-mmio), delosd opens the channel, pushes and loads a cell into the running guest,
// lists it, and reads the guest's stats.
#include <gtest/gtest.h>

#include <filesystem>

#include "controller_harness.h"
#include "skip_unless.h"

namespace delos::test {
namespace {

TEST(QemuRunner, GuestRunsUnderQemuAndItsExitIsRecorded)
{
    DELOS_REQUIRE_QEMU();
    std::string kernel = build_dir() + "/guest/delos.elf";
    ASSERT_TRUE(std::filesystem::exists(kernel)) << kernel << " is not built (cmake --build build --target guest)";
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    auto created = delosctl(delosd.server(), {"vm", "create", "q1", "--runner", "qemu", "--kernel", kernel, "--cmdline",
                                              "exit", "--restart", "never"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "q1") == "VM_STATE_EXITED"; }, std::chrono::seconds(120)))
        << delosd.log();
    auto events = delosctl(delosd.server(), {"-o", "json", "events", "--vm", "q1"}).out;
    EXPECT_NE(events.find("qemu-system-x86_64 -accel"), std::string::npos) << events;
    EXPECT_NE(events.find("-M microvm"), std::string::npos) << events;
    EXPECT_NE(events.find("virtserialport,chardev=delosctl,name=org.delos.control.0"), std::string::npos) << events;
    EXPECT_NE(events.find("EVENT_VM_EXITED"), std::string::npos) << events;
    // The guest's own console went to the serial log: it booted and reached its ready line.
    std::string serial = read_file(dir / "state/vms/q1/serial.log");
    EXPECT_NE(serial.find("delos: ready"), std::string::npos) << serial;
}

TEST(QemuRunner, PushAndLoadIntoARealGuest)
{
    DELOS_REQUIRE_QEMU();
    std::string guest = guest_build_dir();
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    auto created = delosctl(delosd.server(), {"vm", "create", "q2", "--runner", "qemu", "--kernel", guest + "/guest/delos.elf",
                                              "--module", guest + "/cells/cells.a", "--cmdline", "run"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    // Fails fast when the guest says it has no control channel (a guest without the virtio-mmio
    // control port, i.e. before the qemu-mmio branch is merged).
    eventually([&] {
        return vm_state(delosd.server(), "q2") == "VM_STATE_RUNNING"
            || read_file(dir / "state/vms/q2/serial.log").find("no control channel") != std::string::npos
            || read_file(dir / "state/vms/q2/serial.log").find("no control port") != std::string::npos;
    }, std::chrono::seconds(120));
    ASSERT_EQ(vm_state(delosd.server(), "q2"), "VM_STATE_RUNNING")
        << "the guest never opened its channel:\n" << read_file(dir / "state/vms/q2/serial.log") << delosd.log();
    auto pushed = delosctl(delosd.server(), {"push", guest + "/cells/hello.o", "--vm", "q2", "--load"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
    auto cells = delosctl(delosd.server(), {"cells", "--vm", "q2"});
    EXPECT_TRUE(cells.out.find("hello") != std::string::npos && cells.out.find("loaded") != std::string::npos) << cells.out;
    auto stats = delosctl(delosd.server(), {"-o", "json", "stats", "--vm", "q2"});
    EXPECT_NE(stats.out.find("\"task_count\""), std::string::npos) << stats.out;
    EXPECT_TRUE(eventually([&] {
        return read_file(dir / "state/vms/q2/serial.log").find("hello from a cell loaded at run time") != std::string::npos;
    })) << read_file(dir / "state/vms/q2/serial.log");
    ASSERT_EQ(delosctl(delosd.server(), {"vm", "stop", "q2"}).exit_code, 0);
}

} // namespace
} // namespace delos::test
