// libvirt_test.cpp: a Delos domain (microvm, pc, q35) defined and started through libvirt (deploy/delos-libvirt and
// deploy/delos-microvm.xml), its control channel reached through libvirt's channel socket: push,
// load and unload a cell. Starts virtlogd and libvirtd itself when none answers (no systemd here)
// and leaves them running: CTest runs each test case in its own process, possibly in parallel,
// and another libvirt test may be using the daemons this one started. Skips loudly without
// libvirt or QEMU.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "vm_test_support.h"

using namespace delos::test;

namespace {

constexpr const char* kUri = "qemu:///system";

bool libvirt_answers()
{
    return run_child({"virsh", "-q", "-c", kUri, "version"}, {std::chrono::seconds(20), ""}).exit_code == 0;
}

// Empty when libvirt answers (already running, or started here); else why not.
std::string ensure_libvirt_running()
{
    if (libvirt_answers())
        return {};
    if (::geteuid() != 0)
        return "libvirtd is not running and starting the system daemon needs root";
    for (const char* daemon : {"virtlogd", "libvirtd"}) {
        // A daemon that is already up (another test's) refuses to start twice: not an error.
        auto started = run_child({daemon, "-d"}, {std::chrono::seconds(30), ""});
        std::cout << "[ libvirt  ] started " << daemon << " -d (exit " << started.exit_code
                  << "); it stays running for later tests" << std::endl;
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (libvirt_answers())
            return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "libvirtd does not answer on qemu:///system after 'virtlogd -d; libvirtd -d'";
}

class LibvirtDomain : public ::testing::TestWithParam<const char*> {
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
        std::string id = std::to_string(::getpid());
        m_name = "delos-test-" + id;
        m_socket = ::testing::TempDir() + "/delos-libvirt-" + id + ".sock";
        m_serial_log = ::testing::TempDir() + "/delos-libvirt-" + id + ".serial.log";
        virsh({"destroy", m_name});
        virsh({"undefine", m_name});
    }

    void TearDown() override
    {
        if (m_name.empty())
            return;
        virsh({"destroy", m_name});
        virsh({"undefine", m_name});
        ::unlink(m_socket.c_str());
    }

    ChildResult virsh(std::vector<std::string> arguments)
    {
        arguments.insert(arguments.begin(), {"virsh", "-q", "-c", kUri});
        return run_child(arguments, {std::chrono::seconds(60), ""});
    }

    ChildResult chan(std::vector<std::string> arguments)
    {
        arguments.insert(arguments.begin(), {build_path("bin/delos-chan"), "--socket", m_socket, "--timeout", "240"});
        return run_child(arguments, {std::chrono::seconds(300), ""});
    }

    std::string serial_log()
    {
        std::ifstream in(m_serial_log);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    std::string m_name;
    std::string m_socket;
    std::string m_serial_log;
};

} // namespace

// On each machine libvirt runs Delos on: microvm (virtio-mmio), pc and q35 (virtio-serial on PCI).
TEST_P(LibvirtDomain, DomainServesTheControlChannelThroughLibvirtsSocket)
{
    std::string type = kvm_available() ? "kvm" : "qemu";
    const std::string machine = GetParam();
    std::cout << "[ accel    ] libvirt <domain type='" << type << "'> on " << machine
              << (type == "qemu" ? " (no usable /dev/kvm: TCG emulation)" : "") << std::endl;
    auto started = run_child({std::string(DELOS_SOURCE_DIR) + "/deploy/delos-libvirt", "--machine", machine, "--type",
                              type, "--kernel", kernel_path(), "--cells", build_path("cells/cells.a"), "--socket",
                              m_socket, "--serial-log", m_serial_log, "--uri", kUri, "--wait", "240", m_name},
                             {std::chrono::seconds(300), ""});
    ASSERT_EQ(started.exit_code, 0) << started.out << started.err << serial_log();
    EXPECT_NE(started.out.find(m_socket), std::string::npos) << started.out;

    // libvirt's own view: the channel is connected (what discovery uses as readiness).
    auto live = virsh({"dumpxml", m_name});
    EXPECT_NE(live.out.find("name='org.delos.control.0' state='connected'"), std::string::npos) << live.out;

    auto push = chan({"push", build_path("cells/hello.o"), "--no-progress", "--load"});
    ASSERT_EQ(push.exit_code, 0) << push.out << push.err << serial_log();
    EXPECT_NE(push.out.find("loaded hello 1.0.0"), std::string::npos) << push.out;
    EXPECT_NE((push.out + push.err).find("hello from a cell loaded at run time"), std::string::npos) << push.out << push.err;
    auto list = chan({"list"});
    EXPECT_NE(list.out.find("hello"), std::string::npos) << list.out;
    auto unload = chan({"unload", "hello"});
    EXPECT_EQ(unload.exit_code, 0) << unload.out << unload.err;
    list = chan({"list"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_EQ(list.out.find("hello"), std::string::npos) << list.out;
    EXPECT_NE(serial_log().find("hello: goodbye"), std::string::npos) << serial_log();
}

INSTANTIATE_TEST_SUITE_P(Machines, LibvirtDomain, ::testing::Values("microvm", "pc", "q35"));
