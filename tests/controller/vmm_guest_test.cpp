// vmm_guest_test.cpp: delosd running real Delos guests under delos-vmm (needs /dev/kvm; skips
// loudly without it): two VMs from specs, a cell pushed and loaded into one and listed there,
// not in the other; a guest that crashes is recorded with delos-vmm's report and its exit code.
#include <gtest/gtest.h>

#include <filesystem>

#include "skip_unless.h"
#include "controller_harness.h"

namespace delos::test {
namespace {

class VmmGuests : public ::testing::Test {
protected:
    void SetUp() override
    {
        DELOS_REQUIRE_KVM();
        ASSERT_TRUE(delosd.start()) << delosd.log();
    }
    ChildResult create(const std::string& name, const std::string& cmdline, const std::string& restart)
    {
        return delosctl(delosd.server(), {"vm", "create", name, "--runner", "vmm", "--kernel", build_dir() + "/guest/delos.elf",
                                          "--module", build_dir() + "/cells/cells.a", "--cmdline", cmdline, "--restart", restart});
    }
    TempDir dir;
    Delosd delosd{dir.path(), {"--allow-unsigned", "--vmm", bin("delos-vmm")}};
};

TEST_F(VmmGuests, TwoGuestsPushLoadIntoOne)
{
    ASSERT_EQ(create("one", "run", "on-failure").exit_code, 0);
    ASSERT_EQ(create("two", "run", "on-failure").exit_code, 0);
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "one") == "VM_STATE_RUNNING"; }, std::chrono::seconds(60)))
        << delosd.log();
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "two") == "VM_STATE_RUNNING"; }, std::chrono::seconds(60)))
        << delosd.log();
    auto pushed = delosctl(delosd.server(), {"push", cell_object("hello"), "--vm", "one", "--load"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
    EXPECT_NE(delosctl(delosd.server(), {"cells", "--vm", "one"}).out.find("hello"), std::string::npos);
    EXPECT_EQ(delosctl(delosd.server(), {"cells", "--vm", "two"}).out.find("hello"), std::string::npos);
    ASSERT_EQ(delosctl(delosd.server(), {"vm", "stop", "one"}).exit_code, 0);
    EXPECT_EQ(vm_state(delosd.server(), "one"), "VM_STATE_STOPPED");
}

TEST_F(VmmGuests, CrashIsRecordedWithTheVmmReport)
{
    ASSERT_EQ(create("crashy", "crash-page-fault", "never").exit_code, 0);
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "crashy") == "VM_STATE_EXITED"; }, std::chrono::seconds(60)))
        << delosd.log();
    auto events = delosctl(delosd.server(), {"-o", "json", "events", "--vm", "crashy"}).out;
    EXPECT_NE(events.find("exited with code 11"), std::string::npos) << events;
}

} // namespace
} // namespace delos::test
