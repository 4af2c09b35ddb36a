// virtio_control_socket_test.cpp: a real unix socket client talking to the guest's port 1 through the I/O thread.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "control_socket.h"
#include "delos/v1/channel.pb.h"
#include "vmm_error.h"
#include "virtio_test_driver.h"

namespace delos::vmm::virtio {
namespace {

using namespace testing;
using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& condition)
{
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition())
            return true;
        std::this_thread::sleep_for(1ms);
    }
    return condition();
}

FileDescriptor connect_client(const std::string& path)
{
    FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
        ADD_FAILURE() << "connect " << path << ": " << std::strerror(errno);
    return fd;
}

void send_all(int fd, std::string_view text)
{
    while (!text.empty()) {
        ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
        ASSERT_GT(n, 0);
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string receive_exactly(int fd, std::size_t count)
{
    std::string text;
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char buffer[4096];
    while (text.size() < count) {
        ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, count - text.size()), 0);
        if (n <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
}

class ControlSocketTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        path = "/tmp/delos-virtio-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".sock";
        d.bring_up_console();
        socket = std::make_unique<ControlSocket>(path, bench.transport, bench.console);
        socket->start();
        d.post_control_buffers(12);
        d.send_control(0, console::kDeviceReady, 1);
        d.send_control(1, console::kPortReady, 1);
        ASSERT_EQ(next_control().event, console::kDeviceAdd);
        ASSERT_EQ(next_control().event, console::kPortName);
    }
    void TearDown() override { socket.reset(); }

    TestDriver::ControlMessage next_control()
    {
        std::optional<TestDriver::ControlMessage> message;
        EXPECT_TRUE(eventually([&] { return (message = d.take_control()).has_value(); }));
        return message.value_or(TestDriver::ControlMessage{});
    }
    // The guest's receive loop: keep buffers posted, collect what arrives.
    std::string receive_in_guest(std::size_t count)
    {
        std::string text;
        eventually([&] {
            while (auto used = d.take_used(console::kPort1Receive)) {
                std::uint64_t address = receive_address[used->id];
                auto bytes = d.bytes(address, used->length);
                text.append(bytes.begin(), bytes.end());
                receive_address[d.post(console::kPort1Receive, {{address, 1024, true}})] = address;
                d.notify(console::kPort1Receive);
            }
            return text.size() >= count;
        });
        return text;
    }
    void post_receive_buffers()
    {
        for (int i = 0; i < 8; ++i) {
            std::uint64_t address = kBufferBase + 1024ull * static_cast<std::uint64_t>(i);
            std::uint16_t head = d.post(console::kPort1Receive, {{address, 1024, true}});
            receive_address[head] = address;
        }
        d.notify(console::kPort1Receive);
    }
    void transmit_from_guest(std::string_view text, std::uint64_t address)
    {
        d.put(address, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
        d.post(console::kPort1Transmit, {{address, static_cast<std::uint32_t>(text.size()), false}});
        d.notify(console::kPort1Transmit);
    }

    ConsoleBench bench;
    TestDriver& d = bench.driver;
    std::string path;
    std::unique_ptr<ControlSocket> socket;
    std::uint64_t receive_address[256] = {};
};

TEST_F(ControlSocketTest, ClientBytesReachGuestReceiveBuffersInOrder)
{
    FileDescriptor client = connect_client(path);
    auto open = next_control();
    EXPECT_EQ(open.event, console::kPortOpen);
    EXPECT_EQ(open.value, 1);
    send_all(client.get(), "frame-1|");
    send_all(client.get(), "frame-2|");
    post_receive_buffers();  // after the bytes: they waited in the device
    EXPECT_EQ(receive_in_guest(16), "frame-1|frame-2|");
}

TEST_F(ControlSocketTest, GuestTransmitReachesTheClient)
{
    FileDescriptor client = connect_client(path);
    EXPECT_EQ(next_control().event, console::kPortOpen);
    transmit_from_guest("reply from the guest", kBufferBase + 0x10000);
    EXPECT_EQ(receive_exactly(client.get(), 20), "reply from the guest");
    EXPECT_TRUE(eventually([&] { return d.take_used(console::kPort1Transmit).has_value(); }));
}

TEST_F(ControlSocketTest, LargeTransferBothWaysLosesNothing)
{
    FileDescriptor client = connect_client(path);
    EXPECT_EQ(next_control().event, console::kPortOpen);
    std::string big(300 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 7 + i / 251);
    std::thread sender([&] { send_all(client.get(), big); });
    post_receive_buffers();
    std::string received = receive_in_guest(big.size());
    sender.join();
    EXPECT_EQ(received.size(), big.size());
    EXPECT_TRUE(received == big);

    // Guest to client: 200 KiB in 4 KiB chains, more than the host buffer holds at once.
    std::string expected;
    std::thread reader([&] { expected = receive_exactly(client.get(), 200 * 1024); });
    std::string sent;
    int in_flight = 0;
    for (int chunk = 0; chunk < 50; ++chunk) {
        // At most 8 chains in flight, as a driver with 8 transmit buffers would have.
        ASSERT_TRUE(eventually([&] {
            while (d.take_used(console::kPort1Transmit))
                --in_flight;
            return in_flight < 8;
        }));
        std::string piece(4096, static_cast<char>('A' + chunk % 26));
        transmit_from_guest(piece, kBufferBase + 0x20000 + 4096ull * static_cast<std::uint64_t>(chunk % 8));
        ++in_flight;
        sent += piece;
    }
    reader.join();
    EXPECT_TRUE(expected == sent);
}

TEST_F(ControlSocketTest, ReconnectTellsTheGuestAndDropsTheOldClientsBytes)
{
    {
        FileDescriptor first = connect_client(path);
        EXPECT_EQ(next_control().value, 1);
        send_all(first.get(), "from the first client");
        EXPECT_TRUE(eventually([&] { return bench.console.host_input_space() < ConsoleDevice::kBufferCapacity; }));
    }
    auto closed = next_control();
    EXPECT_EQ(closed.event, console::kPortOpen);
    EXPECT_EQ(closed.value, 0);

    FileDescriptor second = connect_client(path);
    auto reopened = next_control();
    EXPECT_EQ(reopened.event, console::kPortOpen);
    EXPECT_EQ(reopened.value, 1);
    EXPECT_EQ(socket->clients_accepted(), 2u);
    send_all(second.get(), "second");
    post_receive_buffers();
    EXPECT_EQ(receive_in_guest(6), "second");
    transmit_from_guest("to second", kBufferBase + 0x10000);
    EXPECT_EQ(receive_exactly(second.get(), 9), "to second");
}

// Everything a peer sends until it closes (or `limit` passes).
std::string receive_until_eof(int fd, std::chrono::seconds limit = 10s)
{
    std::string text;
    char buffer[256];
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd readable{fd, POLLIN, 0};
        if (::poll(&readable, 1, 100) <= 0)
            continue;
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
}

// A refused client reads exactly one frame: a GuestMessage reply to request 0 with STATUS_BUSY.
void expect_busy_refusal(const std::string& received)
{
    ASSERT_GE(received.size(), 4u);
    std::uint32_t length;
    std::memcpy(&length, received.data(), 4);
    ASSERT_EQ(received.size(), 4u + length) << "one frame, then end of file";
    delos::v1::GuestMessage message;
    ASSERT_TRUE(message.ParseFromString(received.substr(4)));
    ASSERT_TRUE(message.has_reply());
    EXPECT_EQ(message.reply().request_id(), 0u);
    EXPECT_EQ(message.reply().status().code(), delos::v1::STATUS_BUSY);
    EXPECT_EQ(message.reply().status().reason(), "another client is connected to the control socket (one client at a time)");
}

TEST_F(ControlSocketTest, SecondClientIsRefusedAtOnceAndTheFirstKeepsItsSession)
{
    FileDescriptor first = connect_client(path);
    EXPECT_EQ(next_control().value, 1);
    FileDescriptor second = connect_client(path);
    send_all(second.get(), "hello from the second client");  // never fails: the refusal is read first
    expect_busy_refusal(receive_until_eof(second.get()));
    EXPECT_EQ(socket->clients_accepted(), 1u);
    EXPECT_EQ(socket->clients_refused(), 1u);

    // The first client's session saw nothing of it, both ways.
    send_all(first.get(), "first");
    post_receive_buffers();
    EXPECT_EQ(receive_in_guest(5), "first");
    transmit_from_guest("to first", kBufferBase + 0x10000);
    EXPECT_EQ(receive_exactly(first.get(), 8), "to first");
    EXPECT_FALSE(d.take_control().has_value()) << "no port event for a refused client";

    // Once the first leaves, the next client is served as usual.
    first.reset();
    EXPECT_EQ(next_control().value, 0);
    FileDescriptor third = connect_client(path);
    EXPECT_EQ(next_control().value, 1);
    EXPECT_EQ(socket->clients_accepted(), 2u);
    transmit_from_guest("hi third", kBufferBase + 0x10000);
    EXPECT_EQ(receive_exactly(third.get(), 8), "hi third");
}

// A client that connects right after the previous one closed is the next session, never refused
// as a second client (the close and the connect can reach the I/O thread in one batch).
TEST_F(ControlSocketTest, AnImmediateReconnectIsServedNotRefused)
{
    for (int round = 0; round < 300; ++round) {
        FileDescriptor client = connect_client(path);
        send_all(client.get(), "x");
    }
    FileDescriptor last = connect_client(path);
    EXPECT_TRUE(eventually([&] { return socket->clients_accepted() == 301; })) << socket->clients_accepted();
    EXPECT_EQ(socket->clients_refused(), 0u);
    transmit_from_guest("to the last", kBufferBase + 0x10000);
    EXPECT_EQ(receive_exactly(last.get(), 11), "to the last");
}

// Refused clients that never close are held in a bounded set; none of them blocks the others.
TEST_F(ControlSocketTest, ManyRefusedClientsAreEachToldAndBounded)
{
    FileDescriptor first = connect_client(path);
    EXPECT_EQ(next_control().value, 1);
    std::vector<FileDescriptor> refused;
    for (std::size_t i = 0; i < ControlSocket::kMaxRefusedClients * 3; ++i) {
        refused.push_back(connect_client(path));
        std::string frame;
        // The oldest kept ones are closed for new ones: each still got its frame first.
        ASSERT_TRUE(eventually([&] {
            char buffer[256];
            ssize_t n = ::recv(refused.back().get(), buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0)
                frame.append(buffer, static_cast<std::size_t>(n));
            return frame.size() >= 4 && frame.size() >= 4 + static_cast<std::size_t>(std::uint8_t(frame[0]));
        })) << i;
    }
    EXPECT_EQ(socket->clients_refused(), ControlSocket::kMaxRefusedClients * 3);
    transmit_from_guest("still here", kBufferBase + 0x10000);
    EXPECT_EQ(receive_exactly(first.get(), 10), "still here");
}

TEST(ControlSocketSetup, RefusesAPathThatIsNotASocket)
{
    ConsoleBench bench;
    std::string path = "/tmp/delos-virtio-test-regular-file-" + std::to_string(::getpid());
    FileDescriptor file(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    EXPECT_THROW(ControlSocket(path, bench.transport, bench.console), BadInput);
    ::unlink(path.c_str());
}

// delos-vmm binds the control socket before it opens KVM: the listener alone owns the path.
TEST(ControlSocketSetup, ListenerReplacesAStaleSocketAndRemovesItsPath)
{
    std::string path = "/tmp/delos-virtio-test-listener-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    {
        // A socket file left by a run that was killed: bound, never removed.
        FileDescriptor stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    }
    ASSERT_EQ(::access(path.c_str(), F_OK), 0);
    {
        UnixListener listener(path);
        UnixListener moved(std::move(listener));  // the moved-from one removes nothing
        EXPECT_EQ(moved.path(), path);
    }
    EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

} // namespace
} // namespace delos::vmm::virtio
