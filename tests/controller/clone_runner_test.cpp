// clone_runner_test.cpp: delosd's clone runner end to end, as a user drives it (docs/fleet.md,
// "The clone runner"): `delosctl vm create --runner clone` three times with one kernel and boot
// archive under QEMU TCG. delosd boots one template guest (once, although three starts asked at
// once), saves it, and starts the three as clones of it. Each is a guest of its own: its own boot
// id, a cell pushed and swapped in one leaves the others on their version, a fault in one is
// stored as that one's, a clone killed is restarted (from the same template, with yet another
// boot id), a stop stops only that one. A changed kernel gives a new template and the old one is
// removed; deleting the last clone VM removes the template.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "controller_harness.h"
#include "skip_unless.h"

namespace delos::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> template_keys(const std::string& state)
{
    std::vector<std::string> keys;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(state + "/templates", error))
        keys.push_back(entry.path().filename().string());
    return keys;
}

int count_of(const std::string& text, const std::string& needle)
{
    int count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++count;
    return count;
}

bool runs_version(const Delosd& delosd, const std::string& vm, const std::string& version)
{
    auto cells = delosctl(delosd.server(), {"-o", "json", "cells", "--vm", vm});
    return cells.out.find("\"name\":\"rollout_probe\",\"version\":\"" + version + "\",\"state\":\"CELL_STATE_LOADED\"")
        != std::string::npos;
}

TEST(QemuCloneRunner, ClonesOfOneTemplateAreGuestsOfTheirOwn)
{
    DELOS_REQUIRE_QEMU();
    std::string guest = guest_build_dir();
    ASSERT_TRUE(fs::exists(guest + "/guest/delos.elf")) << "build the guest: cmake --build build --target guest cells";
    TempDir dir;
    // The test's own copies: it changes the kernel later to see the template rebuilt.
    std::string kernel = dir / "delos.elf", archive = dir / "cells.a";
    fs::copy_file(guest + "/guest/delos.elf", kernel);
    fs::copy_file(guest + "/cells/cells.a", archive);
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    std::string state = dir / "state";
    auto create = [&](const std::string& name) {
        return delosctl(delosd.server(), {"vm", "create", name, "--runner", "clone", "--kernel", kernel, "--module", archive,
                                          "--cmdline", "run", "--memory", "32"});
    };
    const std::vector<std::string> clones = {"c0", "c1", "c2"};
    for (const std::string& name : clones) {
        auto created = create(name);
        ASSERT_EQ(created.exit_code, 0) << created.err;
    }
    for (const std::string& name : clones)
        ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), name) == "VM_STATE_RUNNING"; }, std::chrono::seconds(240)))
            << name << " never ran\n" << delosctl(delosd.server(), {"events"}).out << delosd.log()
            << read_file(state + "/vms/" + name + "/console.log");

    // One template, built once for the three.
    auto events = delosctl(delosd.server(), {"events"}).out;
    EXPECT_EQ(count_of(events, "building clone template"), 1) << events;
    EXPECT_EQ(count_of(events, "built in"), 1) << events;
    auto keys = template_keys(state);
    ASSERT_EQ(keys.size(), 1u) << "templates: " << keys.size();
    const std::string first_key = keys[0];
    std::set<std::string> boot_ids;
    for (const std::string& name : clones) {
        v1::Vm vm = get_vm(delosd, name);
        EXPECT_EQ(vm.spec().runner(), v1::RUNNER_CLONE);
        EXPECT_EQ(vm.clone_template(), first_key) << name;
        // Its own identity: a boot id no other clone has, drawn when delosd opened its channel.
        ASSERT_TRUE(eventually([&] { return !get_vm(delosd, name).guest_boot_id().empty(); })) << name;
        std::string boot = get_vm(delosd, name).guest_boot_id();
        EXPECT_TRUE(boot_ids.insert(boot).second) << name << " has the boot id " << boot << " of another clone";
        EXPECT_NE(read_file(state + "/vms/" + name + "/serial.log").find("new VM generation '" + name + "-b"), std::string::npos)
            << read_file(state + "/vms/" + name + "/serial.log");
    }

    // A push and swap into one clone leaves the others alone.
    for (const std::string& name : clones) {
        auto pushed = delosctl(delosd.server(), {"push", guest + "/cells/rollout_probe.o", "--vm", name, "--load"});
        ASSERT_EQ(pushed.exit_code, 0) << name << ": " << pushed.err;
    }
    auto swapped = delosctl(delosd.server(), {"push", guest + "/cells/rollout_probe.v2.o", "--vm", "c1", "--swap", "--name", "rollout_probe"});
    ASSERT_EQ(swapped.exit_code, 0) << swapped.err;
    EXPECT_TRUE(runs_version(delosd, "c1", "2.0.0")) << delosctl(delosd.server(), {"cells", "--vm", "c1"}).out;
    EXPECT_TRUE(runs_version(delosd, "c0", "1.0.0")) << delosctl(delosd.server(), {"cells", "--vm", "c0"}).out;
    EXPECT_TRUE(runs_version(delosd, "c2", "1.0.0")) << delosctl(delosd.server(), {"cells", "--vm", "c2"}).out;

    // A fault in one clone is that clone's, under its own guest boot id.
    auto faulted = delosctl(delosd.server(), {"push", guest + "/cells/init_faults.o", "--vm", "c2", "--load"});
    EXPECT_NE(faulted.exit_code, 0) << "a faulting init must fail the load: " << faulted.out;
    std::string c2_boot = get_vm(delosd, "c2").guest_boot_id();
    std::string details;
    EXPECT_TRUE(eventually([&] {
        details = delosctl(delosd.server(), {"faults", "--vm", "c2", "--details"}).out;
        return details.find("of boot " + c2_boot) != std::string::npos;
    }, std::chrono::seconds(60))) << details;
    EXPECT_EQ(get_vm(delosd, "c0").faults(), 0u);
    EXPECT_EQ(get_vm(delosd, "c1").faults(), 0u);

    // A clone killed is started again from the same template, as a new guest.
    v1::Vm c0 = get_vm(delosd, "c0");
    std::string c0_boot = c0.guest_boot_id();
    ASSERT_GT(c0.pid(), 0);
    ::kill(c0.pid(), SIGKILL);
    EXPECT_TRUE(eventually([&] {
        v1::Vm now = get_vm(delosd, "c0");
        return now.state() == v1::VM_STATE_RUNNING && now.restarts() == 1 && !now.guest_boot_id().empty()
            && now.guest_boot_id() != c0_boot;
    }, std::chrono::seconds(120))) << get_vm(delosd, "c0").DebugString() << delosctl(delosd.server(), {"events", "--vm", "c0"}).out;
    EXPECT_FALSE(boot_ids.count(get_vm(delosd, "c0").guest_boot_id()));
    EXPECT_EQ(count_of(delosctl(delosd.server(), {"events"}).out, "building clone template"), 1) << "no second build";

    // Stop stops one clone.
    auto stopped = delosctl(delosd.server(), {"vm", "stop", "c1"});
    ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
    EXPECT_EQ(vm_state(delosd.server(), "c1"), "VM_STATE_STOPPED");
    EXPECT_EQ(vm_state(delosd.server(), "c2"), "VM_STATE_RUNNING");
    EXPECT_TRUE(runs_version(delosd, "c2", "1.0.0"));

    // Other inputs, another template: a changed kernel is built anew and the old template goes.
    {
        std::ofstream append(kernel, std::ios::binary | std::ios::app);
        append << "trailing bytes after the ELF image: another kernel file";
    }
    auto created = create("c3");
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "c3") == "VM_STATE_RUNNING"; }, std::chrono::seconds(240)))
        << delosctl(delosd.server(), {"events", "--vm", "c3"}).out << delosd.log();
    std::string second_key = get_vm(delosd, "c3").clone_template();
    EXPECT_NE(second_key, first_key);
    EXPECT_EQ(template_keys(state), std::vector<std::string>{second_key});
    EXPECT_EQ(vm_state(delosd.server(), "c2"), "VM_STATE_RUNNING") << "a running clone keeps its mapping of a removed template";
    EXPECT_TRUE(runs_version(delosd, "c2", "1.0.0"));

    // Deleting the last clone VM removes its template.
    for (const std::string& name : {"c0", "c1", "c2", "c3"}) {
        auto removed = delosctl(delosd.server(), {"vm", "rm", name});
        EXPECT_EQ(removed.exit_code, 0) << removed.err;
    }
    EXPECT_TRUE(template_keys(state).empty());
}

TEST(QemuCloneRunner, ATemplateThatCannotBootIsAClearError)
{
    DELOS_REQUIRE_QEMU();
    TempDir dir;
    std::string kernel = dir / "not-a-kernel.elf";
    write_file(kernel, "this is not an ELF kernel");
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    auto created = delosctl(delosd.server(), {"vm", "create", "bad", "--runner", "clone", "--kernel", kernel, "--memory", "32",
                                              "--restart", "never"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "bad") == "VM_STATE_EXITED"; }, std::chrono::seconds(60)))
        << delosctl(delosd.server(), {"events", "--vm", "bad"}).out;
    v1::Vm bad = get_vm(delosd, "bad");
    EXPECT_NE(bad.last_exit().find("building clone template"), std::string::npos) << bad.last_exit();
    EXPECT_NE(bad.last_exit().find("QEMU"), std::string::npos) << bad.last_exit();
    auto events = delosctl(delosd.server(), {"events", "--vm", "bad"}).out;
    EXPECT_NE(events.find("could not start"), std::string::npos) << events;
    EXPECT_TRUE(template_keys(dir / "state").empty()) << "a failed build leaves nothing behind";
}

} // namespace
} // namespace delos::test
