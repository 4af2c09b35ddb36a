// snapshot_clone_test.cpp: the snapshot-clone experiment of delos-bench-fleet (docs/fleet.md,
// "Where a start's time and memory go") starts working guests: clones of one booted guest
// under QEMU TCG, restored from its saved device state with its RAM file mapped privately, are
// attached to a delosd, which opens each one's channel, pushes and loads a cell into each, and
// reads their cells. Each clone is given its own VM generation (fw_cfg): at its first host
// session it takes a fresh boot id, different from the template's and from the other clone's,
// and a fault in it is stored under that id. (The launcher does not clone yet.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <regex>
#include <set>

#include "controller_harness.h"
#include "skip_unless.h"
#include "snapshot_clones.h"

namespace delos::test {
namespace {

// The boot id a serial log states in `pattern`'s first group, "" if none (yet).
std::string boot_id_in(const std::string& log, const std::regex& pattern)
{
    std::smatch match;
    return std::regex_search(log, match, pattern) ? std::string(match[1]) : std::string();
}

TEST(QemuSnapshotClone, ClonesOfABootedGuestTakeAPushedCell)
{
    DELOS_REQUIRE_QEMU();
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

    // Each clone took an identity of its own when delosd opened its channel.
    std::string template_boot = boot_id_in(read_file(dir / "clones/template.log"), std::regex("delos: boot id ([0-9a-f]{32})"));
    ASSERT_FALSE(template_boot.empty()) << read_file(dir / "clones/template.log");
    std::set<std::string> boots{template_boot};
    std::vector<std::string> clone_boots;
    for (int i = 0; i < kClones; ++i) {
        std::string log_path = dir / ("clones/clone" + std::to_string(i) + ".log");
        std::regex renewed("delos: new VM generation '" + clones.generations[static_cast<std::size_t>(i)] + "': boot id ([0-9a-f]{32})");
        std::string boot;
        EXPECT_TRUE(eventually([&] { return !(boot = boot_id_in(read_file(log_path), renewed)).empty(); })) << read_file(log_path);
        EXPECT_TRUE(boots.insert(boot).second) << "clone " << i << " has boot id " << boot << ", already the template's or another clone's";
        clone_boots.push_back(boot);
    }
    // A fault in each clone is stored as that clone's, under its own guest boot.
    for (int i = 0; i < kClones; ++i) {
        std::string name = "k" + std::to_string(i);
        auto pushed = delosctl(delosd.server(), {"push", guest + "/cells/init_faults.o", "--vm", name, "--load"});
        EXPECT_NE(pushed.exit_code, 0) << "a faulting init must fail the load: " << pushed.out;
        std::string details;
        EXPECT_TRUE(eventually([&] {
            details = delosctl(delosd.server(), {"faults", "--vm", name, "--details"}).out;
            return details.find("of boot " + clone_boots[static_cast<std::size_t>(i)]) != std::string::npos;
        }, std::chrono::seconds(60))) << details << delosd.log();
    }
    auto all = delosctl(delosd.server(), {"faults", "--details"}).out;
    for (int i = 0; i < kClones; ++i)
        EXPECT_NE(all.find("on vm k" + std::to_string(i)), std::string::npos) << all;
}

} // namespace
} // namespace delos::test
