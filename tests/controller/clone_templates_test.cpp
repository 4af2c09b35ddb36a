// clone_templates_test.cpp: the clone runner's template bookkeeping on the host, without QEMU:
// what a clone's argv restores from, which inputs make a slot, and which templates delosd
// removes (those no clone VM names, unfinished builds) and keeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "clone_templates.h"
#include "controller_harness.h"

namespace delos::test {
namespace {

namespace fs = std::filesystem;

v1::VmSpec clone_spec(const std::string& kernel)
{
    v1::VmSpec spec;
    spec.set_name("c0");
    spec.set_runner(v1::RUNNER_CLONE);
    spec.set_kernel(kernel);
    spec.add_modules("/boot/cells.a");
    spec.set_cmdline("run");
    spec.set_memory_mib(32);
    return spec;
}

bool has(const std::vector<std::string>& argv, const std::string& word)
{
    return std::find(argv.begin(), argv.end(), word) != argv.end();
}

TEST(CloneTemplates, ACloneMapsTheTemplateRamPrivatelyAndLoadsItsStateWithItsOwnGeneration)
{
    TempDir dir;
    controller::CloneTemplates templates(dir / "templates", "qemu-system-x86_64");
    controller::CloneTemplate from;
    from.key = std::string(64, 'a');
    from.dir = dir / ("templates/" + from.key);
    auto argv = templates.clone_argv(clone_spec("/boot/delos.elf"), from, "/s/control.sock", "/s/serial.log", "/s/qmp.sock", "c0-b7-0123");
    std::string joined;
    for (const std::string& word : argv)
        joined += word + " ";
    EXPECT_NE(joined.find("mem-path=" + from.dir + "/ram,share=off"), std::string::npos) << joined;
    EXPECT_TRUE(has(argv, "name=opt/org.delos/generation,string=c0-b7-0123")) << joined;
    EXPECT_TRUE(has(argv, "defer")) << joined;
    EXPECT_TRUE(has(argv, "unix:/s/qmp.sock,server=on,wait=off")) << joined;
    EXPECT_TRUE(has(argv, "socket,id=delosctl,path=/s/control.sock,server=on,wait=off")) << joined;
    EXPECT_TRUE(has(argv, "32M")) << joined;
}

TEST(CloneTemplates, ASlotIsWhatTheSpecNamesNotTheFilesContents)
{
    TempDir dir;
    controller::CloneTemplates templates(dir / "templates", "qemu-system-x86_64");
    v1::VmSpec spec = clone_spec("/boot/delos.elf");
    std::string slot = templates.slot_of(spec);
    EXPECT_EQ(slot.size(), 64u);
    v1::VmSpec renamed = spec;
    renamed.set_name("other");  // the VM's name is not an input
    EXPECT_EQ(templates.slot_of(renamed), slot);
    for (auto change : {+[](v1::VmSpec& s) { s.set_memory_mib(64); }, +[](v1::VmSpec& s) { s.set_cmdline("run quiet"); },
                        +[](v1::VmSpec& s) { s.set_kernel("/boot/other.elf"); }, +[](v1::VmSpec& s) { s.set_modules(0, "/x.a"); }}) {
        v1::VmSpec changed = spec;
        change(changed);
        EXPECT_NE(templates.slot_of(changed), slot) << changed.DebugString();
    }
}

TEST(CloneTemplates, TemplatesNoCloneVmNamesAndUnfinishedBuildsAreRemoved)
{
    TempDir dir;
    std::string root = dir / "templates";
    controller::CloneTemplates templates(root, "qemu-system-x86_64");
    std::string kept_slot = templates.slot_of(clone_spec("/boot/delos.elf"));
    std::string gone_slot = templates.slot_of(clone_spec("/boot/old.elf"));
    auto make = [&](const std::string& name, const std::string& slot) {
        fs::create_directories(root + "/" + name);
        std::ofstream(root + "/" + name + "/meta") << "slot " << slot << "\nkey " << name << "\n";
        std::ofstream(root + "/" + name + "/ram") << "ram";
        std::ofstream(root + "/" + name + "/state") << "state";
    };
    std::string kept(64, 'a'), gone(64, 'b');
    make(kept, kept_slot);
    make(gone, gone_slot);
    fs::create_directories(root + "/b-cccccccccccc-123");  // a build that never finished
    templates.retain_only_slots({kept_slot});
    auto keys = templates.keys_on_disk();
    EXPECT_EQ(keys, std::vector<std::string>{kept});
    EXPECT_FALSE(fs::exists(root + "/b-cccccccccccc-123"));
    templates.retain_only_slots({});
    EXPECT_TRUE(templates.keys_on_disk().empty());
}

TEST(CloneTemplates, AnUnreadableKernelIsAClearError)
{
    TempDir dir;
    controller::CloneTemplates templates(dir / "templates", "qemu-system-x86_64");
    v1::VmSpec spec = clone_spec(dir / "missing.elf");
    spec.clear_modules();
    try {
        templates.acquire(spec, [](const std::string&) {});
        FAIL() << "a missing kernel was accepted";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("missing.elf"), std::string::npos) << error.what();
    }
    EXPECT_TRUE(templates.keys_on_disk().empty());
}

} // namespace
} // namespace delos::test
