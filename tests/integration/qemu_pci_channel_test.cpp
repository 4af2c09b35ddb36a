// qemu_pci_channel_test.cpp: the control channel on virtio-serial-pci under QEMU TCG (-M pc and
// -M q35, no KVM needed): the guest enumerates PCI (CF8/CFC on pc, ECAM from MCFG on q35, behind a
// PCIe root port), starts the virtio-pci modern transport on a transitional or non-transitional
// device with MSI-X or INTx, and delos-chan pushes, loads and unloads a cell over the socket.
#include <gtest/gtest.h>

#include <unistd.h>

#include "background_process.h"
#include "vm_test_support.h"

using namespace delos::test;

namespace {

constexpr auto kBootLimit = std::chrono::seconds(240);

struct PciCase {
    const char* name;
    const char* machine;
    const char* append;  // guest command line
    std::vector<std::string> devices;  // QEMU arguments placing the virtio-serial function
    const char* expected_log;          // what the guest must print about the device it started
};

const std::vector<std::string> kPort = {"-device", "virtserialport,bus=vser.0,name=org.delos.control.0,chardev=ctl"};
const std::vector<std::string> kRootPort = {"-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x2"};

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

const PciCase kCases[] = {
    {"PcTransitionalMsix", "pc", "run", join({"-device", "virtio-serial-pci,id=vser"}, kPort),
     "virtio-pci: 0:2.0 (1af4:1003 transitional, type 3): MSI-X"},
    {"PcNonTransitionalIntx", "pc", "run virtio_pci.interrupts=intx",
     join({"-device", "virtio-serial-pci-non-transitional,id=vser"}, kPort),
     "virtio-pci: 0:2.0 (1af4:1043 modern, type 3): INTx GSI "},  // SeaBIOS's PIRQ choice
    {"PcAssignsBarsItself", "pc", "run virtio_pci.reassign_bars=1",
     join({"-device", "virtio-serial-pci-non-transitional,id=vser"}, kPort),
     "virtio-pci: 0:2.0 (1af4:1043 modern, type 3): MSI-X"},
    {"Q35TransitionalMsix", "q35", "run", join({"-device", "virtio-serial-pci,id=vser"}, kPort),
     "virtio-pci: 0:1.0 (1af4:1003 transitional, type 3): MSI-X"},
    {"Q35RootPortNonTransitionalMsix", "q35", "run",
     join(join(kRootPort, {"-device", "virtio-serial-pci-non-transitional,id=vser,bus=rp1"}), kPort),
     "virtio-pci: 1:0.0 (1af4:1043 modern, type 3): MSI-X"},
    // ICH9 routes slot 2's INTA to PIRQG: GSI 22.
    {"Q35RootPortIntx", "q35", "run virtio_pci.interrupts=intx",
     join(join(kRootPort, {"-device", "virtio-serial-pci-non-transitional,id=vser,bus=rp1"}), kPort),
     "virtio-pci: 1:0.0 (1af4:1043 modern, type 3): INTx GSI 22"},
    {"Q35PortIoInsteadOfEcam", "q35", "run pci=ports", join({"-device", "virtio-serial-pci,id=vser"}, kPort),
     "virtio-pci: 0:1.0 (1af4:1003 transitional, type 3): MSI-X"},
    // What libvirt builds for q35: multi-function root ports at 00:01.x, a USB controller, and
    // virtio devices without a driver here (balloon, rng) beside the console.
    {"Q35LibvirtLikeTopology", "q35", "run",
     join({"-device", "pcie-root-port,port=8,chassis=1,id=pci.1,bus=pcie.0,multifunction=on,addr=0x1",
           "-device", "pcie-root-port,port=9,chassis=2,id=pci.2,bus=pcie.0,addr=0x1.0x1",
           "-device", "pcie-root-port,port=10,chassis=3,id=pci.3,bus=pcie.0,addr=0x1.0x2",
           "-device", "pcie-root-port,port=11,chassis=4,id=pci.4,bus=pcie.0,addr=0x1.0x3",
           "-device", "qemu-xhci,id=usb,bus=pci.1,addr=0x0",
           "-device", "virtio-serial-pci,id=vser,bus=pci.2,addr=0x0",
           "-device", "virtio-balloon-pci,id=balloon0,bus=pci.3,addr=0x0",
           "-device", "virtio-rng-pci,bus=pci.4,addr=0x0"},
          kPort),
     "virtio-pci: 2:0.0 (1af4:1043 modern, type 3): MSI-X"},
};

class QemuPciChannel : public ::testing::TestWithParam<PciCase> {
protected:
    void SetUp() override
    {
        DELOS_REQUIRE_QEMU();
        const PciCase& c = GetParam();
        m_socket = ::testing::TempDir() + "/delos-pci-" + std::to_string(::getpid()) + "-" + c.name + ".sock";
        ::unlink(m_socket.c_str());
        std::vector<std::string> argv = {"qemu-system-x86_64", "-accel", "tcg", "-M", c.machine, "-m", "128M",
                                         "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                                         "-kernel", kernel_path(), "-initrd", build_path("cells/cells.a"),
                                         "-append", c.append, "-serial", "stdio", "-monitor", "none",
                                         "-chardev", "socket,id=ctl,path=" + m_socket + ",server=on,wait=off"};
        argv.insert(argv.end(), c.devices.begin(), c.devices.end());
        m_vm = std::make_unique<BackgroundProcess>(argv);
        ASSERT_TRUE(m_vm->wait_for_output("control: serving the channel", kBootLimit)) << m_vm->output();
    }
    void TearDown() override { ::unlink(m_socket.c_str()); }

    ChildResult chan(std::vector<std::string> arguments)
    {
        arguments.insert(arguments.begin(), {build_path("bin/delos-chan"), "--socket", m_socket, "--timeout", "120"});
        return run_child(arguments, {std::chrono::seconds(180), ""});
    }

    std::string m_socket;
    std::unique_ptr<BackgroundProcess> m_vm;
};

} // namespace

TEST_P(QemuPciChannel, PushLoadAndUnloadACell)
{
    EXPECT_NE(m_vm->out().find(GetParam().expected_log), std::string::npos) << m_vm->output();
    EXPECT_NE(m_vm->out().find("virtio-console at pci 0000:"), std::string::npos) << m_vm->output();
    if (std::string(GetParam().name) == "Q35LibvirtLikeTopology")
        EXPECT_NE(m_vm->out().find("device registry: pci 0000:03:00.0 is virtio type 5, for which there is no driver"),
                  std::string::npos) << m_vm->output();

    auto push = chan({"push", build_path("cells/hello.o"), "--no-progress", "--load"});
    ASSERT_EQ(push.exit_code, 0) << push.out << push.err << m_vm->output();
    EXPECT_NE(push.out.find("loaded hello 1.0.0"), std::string::npos) << push.out;
    EXPECT_NE((push.out + push.err).find("hello from a cell loaded at run time"), std::string::npos) << push.out << push.err;

    auto list = chan({"list"});
    EXPECT_NE(list.out.find("hello"), std::string::npos) << list.out;
    auto unload = chan({"unload", "hello"});
    EXPECT_EQ(unload.exit_code, 0) << unload.out << unload.err;
    list = chan({"list"});
    EXPECT_EQ(list.out.find("hello"), std::string::npos) << list.out;
    EXPECT_TRUE(m_vm->wait_for_output("hello: goodbye", std::chrono::seconds(30))) << m_vm->output();
}

INSTANTIATE_TEST_SUITE_P(Machines, QemuPciChannel, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<PciCase>& info) { return std::string(info.param.name); });
