// control_echo_test.cpp: the guest's virtio-console driver end to end: delos-vmm --control-socket
// (needs KVM) or QEMU microvm's chardev socket (KVM, else TCG) with the guest running
// `control-echo`; bytes sent into the socket come back in order, across reconnects, with no bytes
// from an earlier connection leaking into a later one.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <iostream>
#include <memory>

#include "background_process.h"
#include "vm_test_support.h"

using namespace delos::test;
using Clock = std::chrono::steady_clock;

namespace {

// The guest runs under instruction emulation on some hosts (~1 us per instruction): be generous.
constexpr auto kBootLimit = std::chrono::seconds(180);
constexpr auto kTransferLimit = std::chrono::seconds(120);

std::vector<std::uint8_t> pattern(std::size_t size, std::uint32_t seed)
{
    std::vector<std::uint8_t> bytes(size);
    std::uint32_t state = seed;
    for (auto& byte : bytes) {
        state = state * 1103515245u + 12345u;
        byte = static_cast<std::uint8_t>(state >> 16);
    }
    return bytes;
}

// Sends `bytes` while reading the echo (both at once: the echo can fill the socket before we finish
// sending). Returns what came back, stopping at bytes.size() bytes, EOF or the deadline.
std::vector<std::uint8_t> echo_through(int fd, const std::vector<std::uint8_t>& bytes)
{
    std::vector<std::uint8_t> received;
    std::size_t sent = 0;
    auto deadline = Clock::now() + kTransferLimit;
    while (received.size() < bytes.size() && Clock::now() < deadline) {
        pollfd poller{fd, static_cast<short>(POLLIN | (sent < bytes.size() ? POLLOUT : 0)), 0};
        if (::poll(&poller, 1, 100) < 0)
            break;
        if ((poller.revents & POLLOUT) && sent < bytes.size()) {
            ssize_t n = ::send(fd, bytes.data() + sent, std::min<std::size_t>(bytes.size() - sent, 4096), MSG_NOSIGNAL);
            if (n > 0)
                sent += static_cast<std::size_t>(n);
        }
        if (poller.revents & (POLLIN | POLLHUP)) {
            std::uint8_t buffer[65536];
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            received.insert(received.end(), buffer, buffer + n);
        }
    }
    return received;
}

std::size_t first_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b)
{
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i])
        ++i;
    return i;
}

// delos-vmm (its console at 0xd0000000, GSI 5) or QEMU microvm (0xfeb00e00, GSI 12, appended
// by QEMU after the command line given here).
class ControlEcho : public ::testing::TestWithParam<std::string> {
protected:
    bool qemu() const { return GetParam() == "qemu_microvm"; }
    void SetUp() override
    {
        if (qemu())
            DELOS_REQUIRE_QEMU();
        else
            DELOS_REQUIRE_KVM();
    }
    std::unique_ptr<BackgroundProcess> start(const std::string& socket_path, const std::string& cmdline)
    {
        ::unlink(socket_path.c_str());
        if (qemu()) {
            std::cout << qemu_accelerator_note("microvm,acpi=off") << std::endl;
            return std::make_unique<BackgroundProcess>(qemu_microvm_channel_command(socket_path, cmdline));
        }
        return std::make_unique<BackgroundProcess>(
            std::vector<std::string>{vmm_path(), "--control-socket", socket_path, "--cmdline", cmdline, kernel_path()});
    }
    std::string console_location() const { return qemu() ? "virtio-mmio@0xfeb00e00 gsi 12" : "virtio-mmio@0xd0000000 gsi 5"; }
    // The console's own announcement again, in the syntax the VMM/QEMU use.
    std::string console_option_again() const
    {
        return qemu() ? "virtio_mmio.device=512@0xfeb00e00:12" : "virtio_mmio.device=0x1000@0xd0000000:5";
    }
};

} // namespace

TEST_P(ControlEcho, BytesComeBackInOrderAcrossReconnects)
{
    std::string socket_path = ::testing::TempDir() + "/delos-control-echo-" + std::to_string(::getpid()) + ".sock";
    auto vm = start(socket_path, "control-echo");
    BackgroundProcess& vmm = *vm;
    ASSERT_TRUE(vmm.wait_for_output("control: port org.delos.control.0 open", kBootLimit, 1)) << vmm.output();

    // Connection 1: a small message, then more than all receive and transmit buffers hold at once.
    for (std::size_t size : {std::size_t(5), std::size_t(3000), std::size_t(200 * 1024)}) {
        int fd = connect_unix_socket(socket_path);
        ASSERT_GE(fd, 0) << "connect " << socket_path << ": " << std::strerror(errno) << "\n" << vmm.output();
        auto sent = pattern(size, static_cast<std::uint32_t>(size));
        auto received = echo_through(fd, sent);
        ::close(fd);
        ASSERT_EQ(received.size(), sent.size()) << "echo of " << size << " bytes\n" << vmm.output();
        ASSERT_EQ(first_difference(received, sent), sent.size()) << "echo of " << size << " bytes differs\n"
                                                                  << vmm.output();
    }
    int connections = 3;
    ASSERT_TRUE(vmm.wait_for_output("control: disconnected", kBootLimit, connections)) << vmm.output();

    // Reconnect several times with a different pattern each time: nothing from before comes back.
    for (std::uint32_t round = 0; round < 3; ++round) {
        int fd = connect_unix_socket(socket_path);
        ASSERT_GE(fd, 0) << vmm.output();
        auto sent = pattern(8 * 1024, 0x5eed0000u + round);
        auto received = echo_through(fd, sent);
        ::close(fd);
        ASSERT_EQ(received.size(), sent.size()) << "round " << round << "\n" << vmm.output();
        ASSERT_EQ(first_difference(received, sent), sent.size()) << "round " << round << "\n" << vmm.output();
        ++connections;
        ASSERT_TRUE(vmm.wait_for_output("control: disconnected", kBootLimit, connections)) << vmm.output();
    }
    EXPECT_EQ(count_occurrences(vmm.out(), "control: connected"), connections) << vmm.output();
    EXPECT_EQ(vmm.out().find("failed"), std::string::npos) << vmm.output();
    EXPECT_EQ(vmm.out().find("giving up"), std::string::npos) << vmm.output();
    EXPECT_TRUE(vmm.running()) << vmm.output();
}

TEST_P(ControlEcho, BytesSentBeforeTheGuestIsUpAreDelivered)
{
    std::string socket_path = ::testing::TempDir() + "/delos-control-early-" + std::to_string(::getpid()) + ".sock";
    auto vm = start(socket_path, "control-echo");
    BackgroundProcess& vmm = *vm;
    // Connect as soon as the socket exists, before the guest's driver has posted buffers.
    int fd = -1;
    for (auto deadline = Clock::now() + kBootLimit; fd < 0 && Clock::now() < deadline && vmm.running();)
        if ((fd = connect_unix_socket(socket_path)) < 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_GE(fd, 0) << vmm.output();
    auto sent = pattern(16 * 1024, 77);
    auto received = echo_through(fd, sent);
    ::close(fd);
    ASSERT_EQ(received.size(), sent.size()) << vmm.output();
    EXPECT_EQ(first_difference(received, sent), sent.size()) << vmm.output();
}

TEST_P(ControlEcho, MalformedMmioAnnouncementsAreReportedAndSkipped)
{
    std::string socket_path = ::testing::TempDir() + "/delos-control-bad-" + std::to_string(::getpid()) + ".sock";
    // Bad options come before the VMM's real one (QEMU appends its own after them); the driver must
    // skip them and still find the port. The console is announced twice (delos-vmm: the last
    // option here repeats it; QEMU: the one given here comes first): it must start only once.
    auto vm = start(socket_path, "control-echo virtio_mmio.device=4K@0xd0000000 virtio_mmio.device=4Q@0x1000:5 "
                                 "virtio_mmio.device=4K@0xd0000123:5 virtio_mmio.device=4K@0xd0000000:99 " +
                                     console_option_again());
    BackgroundProcess& vmm = *vm;
    ASSERT_TRUE(vmm.wait_for_output("control: port org.delos.control.0 open", kBootLimit, 1)) << vmm.output();
    std::string out = vmm.out();
    EXPECT_NE(out.find("virtio-mmio: ignoring 'virtio_mmio.device=4K@0xd0000000': "), std::string::npos) << out;
    EXPECT_NE(out.find("virtio-mmio: ignoring 'virtio_mmio.device=4Q@0x1000:5': "), std::string::npos) << out;
    EXPECT_NE(out.find("not 4-byte aligned"), std::string::npos) << out;
    EXPECT_NE(out.find("irq is not an IOAPIC pin"), std::string::npos) << out;
    EXPECT_EQ(count_occurrences(out, "virtio-console at " + console_location() + ": started"), 1) << out;
    EXPECT_NE(out.find("device registry: this device is already registered"), std::string::npos) << out;
    int fd = connect_unix_socket(socket_path);
    ASSERT_GE(fd, 0) << vmm.output();
    auto sent = pattern(1000, 3);
    auto received = echo_through(fd, sent);
    ::close(fd);
    EXPECT_EQ(received, sent) << vmm.output();
}

INSTANTIATE_TEST_SUITE_P(Guests, ControlEcho, ::testing::Values("delos_vmm", "qemu_microvm"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
