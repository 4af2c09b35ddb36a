// qemu_runner_test.cpp: delosd runs a real Delos guest under QEMU TCG (-M microvm) with the
// control port on a socket it owns: the guest process is started with its serial log kept,
// and its exit is recorded with QEMU's exit code. (Talking to the guest over the channel
// under microvm waits for the virtio-mmio transport work; until then guests talk to delosd
// through delos-fake-guest in the other tests.)
#include <gtest/gtest.h>

#include <filesystem>

#include "controller_harness.h"

namespace delos::test {
namespace {

TEST(QemuRunner, GuestRunsUnderQemuAndItsExitIsRecorded)
{
    if (!program_exists("qemu-system-x86_64"))
        GTEST_SKIP() << "SKIPPED: qemu-system-x86_64 is not installed (scripts/bootstrap installs it)";
    std::string kernel = build_dir() + "/guest/delos.elf";
    if (!std::filesystem::exists(kernel))
        GTEST_SKIP() << "SKIPPED: " << kernel << " is not built (cmake --build build --target guest)";
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

} // namespace
} // namespace delos::test
