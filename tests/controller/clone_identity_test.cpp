// clone_identity_test.cpp: delosd and a guest that takes a new identity without rebooting (a
// snapshot clone, docs/fleet.md): a Ready with a new boot id starts a new boot even though the
// guest's uptime did not go back, so a fault numbered as one of the old identity's is stored as
// its own, not dropped as a re-delivery. The same boot id again is the same boot.
#include <gtest/gtest.h>

#include "controller_harness.h"
#include "scripted_guest.h"

namespace delos::test {
namespace {

std::size_t count_occurrences(const std::string& text, const std::string& what)
{
    std::size_t count = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size()))
        ++count;
    return count;
}

TEST(DelosdCloneIdentity, ANewBootIdInReadyIsANewBootAndItsFaultsAreItsOwn)
{
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    std::string server = delosd.server();
    ScriptedGuest guest(dir / "g.sock");
    guest.set_boot_id("template0000000000000000000000aa");
    ASSERT_TRUE(attach_running_vm(delosd, "c", dir / "g.sock"));
    ASSERT_TRUE(guest.wait_connected(std::chrono::seconds(10)));
    auto report = make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "before");
    ASSERT_TRUE(guest.send_fault(5, report));
    ASSERT_TRUE(eventually([&] { return count_occurrences(delosctl(server, {"-o", "json", "faults", "--vm", "c"}).out, "\"guest_sequence\":\"5\"") == 1; }))
        << delosd.log();
    std::uint64_t first_boot = get_vm(delosd, "c").boot_id();

    // A reconnect with the same boot id (and uptime still going up) is the same boot.
    guest.hang_up();
    ASSERT_TRUE(eventually([&] { return guest.connections() >= 2 && guest.wait_connected(std::chrono::milliseconds(10)); }));
    ASSERT_TRUE(guest.send_fault(6, report));
    ASSERT_TRUE(eventually([&] { return count_occurrences(delosctl(server, {"-o", "json", "faults", "--vm", "c"}).out, "\"guest_sequence\":\"6\"") == 1; }));
    EXPECT_EQ(get_vm(delosd, "c").boot_id(), first_boot);

    // The same guest with a fresh identity: a new boot, and its fault #5 is not the old one's.
    guest.set_boot_id("clone1111111111111111111111111bb");
    guest.hang_up();
    ASSERT_TRUE(eventually([&] { return guest.connections() >= 3 && guest.wait_connected(std::chrono::milliseconds(10)); }));
    ASSERT_TRUE(eventually([&] { return get_vm(delosd, "c").boot_id() != first_boot; })) << delosd.log();
    ASSERT_TRUE(guest.send_fault(5, make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "after")));
    ASSERT_TRUE(eventually([&] { return count_occurrences(delosctl(server, {"-o", "json", "faults", "--vm", "c"}).out, "\"guest_sequence\":\"5\"") == 2; }))
        << delosctl(server, {"-o", "json", "faults", "--vm", "c"}).out << delosd.log();
    auto events = delosctl(server, {"events"}).out;
    EXPECT_NE(events.find("boot id changed"), std::string::npos) << events;
}

} // namespace
} // namespace delos::test
