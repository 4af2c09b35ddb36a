// snapshot_clone_test.cpp: the snapshot-clone experiment of delos-bench-fleet (docs/fleet.md,
// "Where a start's time and memory go") starts working guests: clones of one booted guest
// under QEMU TCG, restored from its saved device state with its RAM file mapped privately, are
// attached to a delosd, which opens each one's channel, pushes and loads a cell into each, and
// reads their cells. (The launcher does not clone yet: clones share the template's boot id.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>

#include "controller_harness.h"
#include "snapshot_clones.h"

namespace delos::test {
namespace {

TEST(QemuSnapshotClone, ClonesOfABootedGuestTakeAPushedCell)
{
    if (!program_exists("qemu-system-x86_64"))
        GTEST_SKIP() << "SKIPPED: qemu-system-x86_64 is not installed (scripts/bootstrap installs it)";
    std::string guest = guest_build_dir();
    TempDir dir;
    constexpr int kClones = 2;
    bench::CloneRun clones = bench::start_snapshot_clones(dir / "clones", kClones, 32, guest + "/guest/delos.elf",
                                                          guest + "/cells/cells.a");
    struct Reaper {
        std::vector<int>& pids;
        ~Reaper()
        {
            for (int pid : pids)
                if (pid > 0)
                    ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
        }
    } reaper{clones.pids};
    ASSERT_TRUE(clones.ok) << clones.error;
    ASSERT_EQ(clones.control_sockets.size(), static_cast<std::size_t>(kClones));

    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    for (int i = 0; i < kClones; ++i) {
        std::string name = "k" + std::to_string(i);
        auto created = delosctl(delosd.server(), {"vm", "create", name, "--runner", "attach", "--socket",
                                                  clones.control_sockets[static_cast<std::size_t>(i)]});
        ASSERT_EQ(created.exit_code, 0) << created.err;
        ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), name) == "VM_STATE_RUNNING"; }, std::chrono::seconds(60)))
            << delosd.log();
        auto pushed = delosctl(delosd.server(), {"push", guest + "/cells/hello.o", "--vm", name, "--load"});
        ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
        auto cells = delosctl(delosd.server(), {"cells", "--vm", name});
        EXPECT_TRUE(cells.out.find("hello") != std::string::npos && cells.out.find("loaded") != std::string::npos) << cells.out;
        // The clone runs the pushed cell: its greeting is on the clone's own serial.
        EXPECT_TRUE(eventually([&] {
            return read_file(dir / ("clones/clone" + std::to_string(i) + ".log")).find("hello from a cell loaded at run time")
                != std::string::npos;
        })) << read_file(dir / ("clones/clone" + std::to_string(i) + ".log"));
    }
}

} // namespace
} // namespace delos::test
