// libvirt_discovery_test.cpp: delosd's libvirt discovery. The domain-XML reading and the VM
// names on their own (hostile and odd XML included), then the whole path: delosd started with
// --libvirt-uri (polling once an hour), then a microvm Delos domain defined and started through
// libvirt (deploy/delos-libvirt, TCG without /dev/kvm): delosd finds it by its lifecycle events,
// lists it beside its own VMs, pushes and loads a cell into it through delosctl, and drops it when
// the domain is destroyed. Starts virtlogd and
// libvirtd itself when none answers; skips loudly without libvirt, QEMU or root.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "controller_harness.h"
#include "skip_unless.h"
#include "libvirt_discovery.h"

namespace delos::test {
namespace {

using controller::find_delos_channel;
using controller::vm_name_for_domain;

std::string domain_xml(const std::string& channels)
{
    return "<domain type='qemu'><name>d</name><devices><serial type='pty'/>" + channels + "</devices></domain>";
}

TEST(LibvirtDiscoveryXml, FindsTheConnectedDelosChannel)
{
    auto channel = find_delos_channel(domain_xml(
        "<channel type='unix'><source mode='bind' path='/run/a.sock'/>"
        "<target type='virtio' name='org.other.0' state='connected'/></channel>"
        "<channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/d.delos.sock'/>"
        "<target type='virtio' name='org.delos.control.0' state='connected'/><alias name='channel1'/></channel>"));
    ASSERT_TRUE(channel.has_value());
    EXPECT_EQ(channel->socket_path, "/var/lib/libvirt/qemu/channel/d.delos.sock");
    EXPECT_TRUE(channel->connected);
}

TEST(LibvirtDiscoveryXml, ADisconnectedOrStatelessChannelIsNotReady)
{
    auto disconnected = find_delos_channel(domain_xml("<channel type='unix'><source mode='bind' path='/s'/>"
                                                      "<target type='virtio' name='org.delos.control.0' state='disconnected'/></channel>"));
    ASSERT_TRUE(disconnected.has_value());
    EXPECT_FALSE(disconnected->connected);
    auto inactive = find_delos_channel(domain_xml("<channel type='unix'><source mode='bind' path='/s'/>"
                                                  "<target type='virtio' name='org.delos.control.0'/></channel>"));
    ASSERT_TRUE(inactive.has_value());
    EXPECT_FALSE(inactive->connected);
}

TEST(LibvirtDiscoveryXml, RefusesWhatIsNotADelosUnixChannel)
{
    const char* refused[] = {
        "",                                                   // no XML
        "<domain><devices>",                                  // truncated
        "<notdomain><devices><channel type='unix'><source path='/s'/><target type='virtio' "
        "name='org.delos.control.0' state='connected'/></channel></devices></notdomain>",
    };
    for (const char* xml : refused)
        EXPECT_FALSE(find_delos_channel(xml).has_value()) << xml;
    const char* channels[] = {
        "<channel type='pty'><source path='/dev/pts/3'/><target type='virtio' name='org.delos.control.0' state='connected'/></channel>",
        "<channel type='unix'><source path='relative.sock'/><target type='virtio' name='org.delos.control.0' state='connected'/></channel>",
        "<channel type='unix'><target type='virtio' name='org.delos.control.0' state='connected'/></channel>",
        "<channel type='unix'><source path='/s'/><target type='guestfwd' name='org.delos.control.0' state='connected'/></channel>",
        "<channel type='unix'><source path='/s'/><target type='virtio' name='org.delos.control.00' state='connected'/></channel>",
    };
    for (const char* channel : channels)
        EXPECT_FALSE(find_delos_channel(domain_xml(channel)).has_value()) << channel;
    std::string long_path = "/" + std::string(120, 'a');
    EXPECT_FALSE(find_delos_channel(domain_xml("<channel type='unix'><source path='" + long_path +
                                               "'/><target type='virtio' name='org.delos.control.0'/></channel>"))
                     .has_value());
    // An entity is not expanded into the path (nor fetched): the channel stays unusable.
    auto entity = find_delos_channel("<!DOCTYPE domain [<!ENTITY p SYSTEM 'file:///etc/passwd'>]><domain><devices>"
                                     "<channel type='unix'><source path='&p;'/><target type='virtio' "
                                     "name='org.delos.control.0' state='connected'/></channel></devices></domain>");
    EXPECT_TRUE(!entity.has_value() || entity->socket_path.find("root:") == std::string::npos);
}

TEST(LibvirtDiscoveryXml, DomainNamesBecomeVmNames)
{
    EXPECT_EQ(vm_name_for_domain("delos-test-42"), "delos-test-42");
    EXPECT_EQ(vm_name_for_domain("Web.Server 1"), "web-server-1");
    EXPECT_EQ(vm_name_for_domain("_x"), "d_x");
    EXPECT_EQ(vm_name_for_domain(""), "domain");
    EXPECT_EQ(vm_name_for_domain(std::string(200, 'a')).size(), 63u);
}

constexpr const char* kUri = "qemu:///system";

ChildResult virsh(std::vector<std::string> arguments)
{
    arguments.insert(arguments.begin(), {"virsh", "-q", "-c", kUri});
    return run_child(arguments, {std::chrono::seconds(60), ""});
}

// Empty when libvirt answers (already running, or started here; left running for other tests).
std::string ensure_libvirt_running()
{
    if (virsh({"version"}).exit_code == 0)
        return {};
    if (::geteuid() != 0)
        return "libvirtd is not running and starting the system daemon needs root";
    for (const char* daemon : {"virtlogd", "libvirtd"}) {
        auto started = run_child({daemon, "-d"}, {std::chrono::seconds(30), ""});
        std::cout << "[ libvirt  ] started " << daemon << " -d (exit " << started.exit_code << ")" << std::endl;
    }
    if (eventually([] { return virsh({"version"}).exit_code == 0; }, std::chrono::seconds(20)))
        return {};
    return "libvirtd does not answer on qemu:///system after 'virtlogd -d; libvirtd -d'";
}

class LibvirtDiscovery : public ::testing::Test {
protected:
    void SetUp() override
    {
        DELOS_REQUIRE_QEMU();
        for (const char* program : {"virsh", "libvirtd", "virtlogd"}) {
            if (!program_exists(program))
                GTEST_SKIP() << "SKIPPED: " << program << " is not installed (libvirt-daemon-system, libvirt-clients)";
        }
        // libvirt is installed (scripts/bootstrap): a daemon that will not start is a failure.
        if (std::string why = ensure_libvirt_running(); !why.empty())
            GTEST_FAIL() << why;
        m_domain = "delos-discovery-" + std::to_string(::getpid());
        virsh({"destroy", m_domain});
        virsh({"undefine", m_domain});
    }

    void TearDown() override
    {
        if (m_domain.empty())
            return;
        virsh({"destroy", m_domain});
        virsh({"undefine", m_domain});
    }

    std::string m_domain;
};

// delosd starts first, polling only once an hour: the domain started afterwards can only be
// found through libvirt's lifecycle events (and the short re-looks they start until the guest
// opens its channel), and only the stop event removes it again.
TEST_F(LibvirtDiscovery, DelosdFollowsLifecycleEventsAndPushesACellIntoADomain)
{
    std::string guest = guest_build_dir();
    TempDir dir;
    std::string socket = dir / "channel.sock", serial_log = dir / "serial.log";
    std::string type = kvm_available() ? "kvm" : "qemu";
    std::cout << "[ libvirt  ] <domain type='" << type << "'> on microvm" << (type == "qemu" ? " (TCG)" : "") << std::endl;

    // Only this test's domain: attaching to another test's domain would take its channel.
    Delosd delosd(dir.path(),
                  {"--allow-unsigned", "--libvirt-uri", kUri, "--libvirt-poll-ms", "3600000", "--libvirt-domains", m_domain});
    ASSERT_TRUE(delosd.start()) << delosd.log();
    ASSERT_TRUE(eventually([&] { return delosd.log().find("lifecycle_events=on") != std::string::npos; },
                           std::chrono::seconds(10)))
        << delosd.log();
    // One VM of delosd's own beside the discovered one (attached to a socket nobody serves).
    ASSERT_EQ(delosctl(delosd.server(), {"vm", "create", "own", "--runner", "attach", "--socket", dir / "none.sock"}).exit_code, 0);

    auto started = run_child({std::string(DELOS_SOURCE_DIR) + "/deploy/delos-libvirt", "--machine", "microvm", "--type", type,
                              "--kernel", guest + "/guest/delos.elf", "--cells", guest + "/cells/cells.a", "--socket", socket,
                              "--serial-log", serial_log, "--uri", kUri, "--wait", "0", m_domain},
                             {std::chrono::seconds(300), ""});
    ASSERT_EQ(started.exit_code, 0) << started.out << started.err << read_file(serial_log);
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), m_domain) == "VM_STATE_RUNNING"; }, std::chrono::seconds(240)))
        << delosctl(delosd.server(), {"-o", "json", "vm", "ls"}).out << delosd.log() << read_file(serial_log);
    EXPECT_NE(delosd.log().find("event=started"), std::string::npos) << delosd.log();

    auto listed = delosctl(delosd.server(), {"-o", "json", "vm", "ls"});
    EXPECT_NE(listed.out.find("\"libvirt_domain\":\"" + m_domain + "\""), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("\"libvirt_uri\":\"qemu:///system\""), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("\"control_socket\":\"" + socket + "\""), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("\"own\""), std::string::npos) << listed.out;
    auto table = delosctl(delosd.server(), {"vm", "ls"});
    EXPECT_NE(table.out.find("libvirt"), std::string::npos) << table.out;

    auto pushed = delosctl(delosd.server(), {"push", guest + "/cells/hello.o", "--vm", m_domain, "--load", "--no-progress"},
                           std::chrono::seconds(240));
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err << delosd.log();
    auto cells = delosctl(delosd.server(), {"cells", "--vm", m_domain});
    EXPECT_TRUE(cells.out.find("hello") != std::string::npos && cells.out.find("loaded") != std::string::npos) << cells.out;
    EXPECT_TRUE(eventually([&] { return read_file(serial_log).find("hello from a cell loaded at run time") != std::string::npos; },
                           std::chrono::seconds(60)))
        << read_file(serial_log);

    // Destroyed domain: the stop event makes discovery remove its VM; delosd's own VM stays.
    ASSERT_EQ(virsh({"destroy", m_domain}).exit_code, 0);
    EXPECT_TRUE(eventually([&] { return delosctl(delosd.server(), {"vm", "ls"}).out.find(m_domain) == std::string::npos; },
                           std::chrono::seconds(60)))
        << delosctl(delosd.server(), {"vm", "ls"}).out << delosd.log();
    EXPECT_NE(delosd.log().find("event=stopped"), std::string::npos) << delosd.log();
    EXPECT_NE(delosctl(delosd.server(), {"vm", "ls"}).out.find("own"), std::string::npos);
}

TEST(LibvirtDiscoveryOptions, RequestsCannotClaimToBeDiscovered)
{
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    EXPECT_EQ(delosd.log().find("libvirt discovery on"), std::string::npos) << "--no-libvirt left discovery on";
    auto stub = delosd.stub();
    grpc::ClientContext context;
    v1::CreateVmRequest request;
    request.mutable_spec()->set_name("fake");
    request.mutable_spec()->set_runner(v1::RUNNER_ATTACH);
    request.mutable_spec()->set_control_socket(dir / "x.sock");
    request.mutable_spec()->set_libvirt_domain("someone-elses");
    v1::Vm reply;
    grpc::Status status = stub->CreateVm(&context, request, &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

} // namespace
} // namespace delos::test
