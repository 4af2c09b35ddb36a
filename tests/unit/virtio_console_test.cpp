// virtio_console_test.cpp: the multiport control handshake and port 1 data in both directions, with backpressure.
#include <gtest/gtest.h>

#include <numeric>

#include "virtio_test_driver.h"

namespace delos::vmm::virtio {
namespace {

using namespace testing;

class ConsoleTest : public ::testing::Test {
protected:
    void SetUp() override { d.bring_up_console(); }

    // DEVICE_READY -> DEVICE_ADD(1); PORT_READY(1) -> PORT_NAME (+ PORT_OPEN when a client is there).
    void handshake()
    {
        d.post_control_buffers(8);
        d.send_control(0, console::kDeviceReady, 1);
        auto add = d.take_control();
        ASSERT_TRUE(add.has_value());
        EXPECT_EQ(add->event, console::kDeviceAdd);
        EXPECT_EQ(add->id, 1u);
        d.send_control(1, console::kPortReady, 1);
        auto name = d.take_control();
        ASSERT_TRUE(name.has_value());
        EXPECT_EQ(name->event, console::kPortName);
        EXPECT_EQ(name->id, 1u);
        EXPECT_EQ(name->payload, "org.delos.control.0");
    }

    // Posts `count` receive buffers of `size` bytes on port 1; returns their addresses by head.
    void post_receive_buffers(int count, std::uint32_t size)
    {
        for (int i = 0; i < count; ++i) {
            std::uint64_t address = kBufferBase + std::uint64_t(size) * static_cast<std::uint64_t>(m_receive_posted++ % 16);
            std::uint16_t head = d.post(console::kPort1Receive, {{address, size, true}});
            m_receive_address[head] = address;
        }
        d.notify(console::kPort1Receive);
    }
    std::string take_received()
    {
        std::string text;
        while (auto used = d.take_used(console::kPort1Receive)) {
            auto bytes = d.bytes(m_receive_address[used->id], used->length);
            text.append(bytes.begin(), bytes.end());
        }
        return text;
    }
    std::string drain_host_output()
    {
        std::string text;
        std::uint8_t buffer[4096];
        while (std::size_t n = bench.console.peek_for_host(buffer)) {
            text.append(reinterpret_cast<char*>(buffer), n);
            bench.console.consume_for_host(n);
        }
        return text;
    }
    std::size_t accept(std::string_view text)
    {
        return bench.console.accept_from_host({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    }

    // The PORT_OPEN values the device hands over in four rounds of `buffers` fresh control buffers.
    std::vector<std::uint16_t> port_open_values(int buffers)
    {
        std::vector<std::uint16_t> values;
        for (int round = 0; round < 4; ++round) {
            d.post_control_buffers(buffers);
            while (auto message = d.take_control()) {
                if (message->event == console::kPortOpen)
                    values.push_back(message->value);
            }
        }
        return values;
    }

    ConsoleBench bench;
    TestDriver& d = bench.driver;
    int m_receive_posted = 0;
    std::uint64_t m_receive_address[256] = {};
};

TEST_F(ConsoleTest, HandshakeAnnouncesTheNamedPortClosedWithoutAClient)
{
    handshake();
    EXPECT_TRUE(bench.console.port_ready());
    EXPECT_FALSE(d.take_control().has_value()) << "no PORT_OPEN before a client connects";
}

TEST_F(ConsoleTest, PortOpenFollowsTheClient)
{
    handshake();
    bench.console.host_connected();
    auto open = d.take_control();
    ASSERT_TRUE(open.has_value());
    EXPECT_EQ(open->event, console::kPortOpen);
    EXPECT_EQ(open->id, 1u);
    EXPECT_EQ(open->value, 1);
    bench.console.host_disconnected();
    auto closed = d.take_control();
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->event, console::kPortOpen);
    EXPECT_EQ(closed->value, 0);
}

TEST_F(ConsoleTest, ClientConnectedBeforePortReadyGetsPortOpenAfterTheName)
{
    bench.console.host_connected();
    handshake();
    auto open = d.take_control();
    ASSERT_TRUE(open.has_value());
    EXPECT_EQ(open->event, console::kPortOpen);
    EXPECT_EQ(open->value, 1);
}

TEST_F(ConsoleTest, ControlMessagesWaitForReceiveBuffers)
{
    d.send_control(0, console::kDeviceReady, 1);
    EXPECT_FALSE(d.take_control().has_value());
    d.post_control_buffers(1);
    auto add = d.take_control();
    ASSERT_TRUE(add.has_value());
    EXPECT_EQ(add->event, console::kDeviceAdd);
}

TEST_F(ConsoleTest, ReconnectsCoalesceIntoTheLatestPortOpen)
{
    handshake();
    // The handshake's spare control buffers take the first messages; the rest queue in the device.
    for (int i = 0; i < 1000; ++i) {
        bench.console.host_connected();
        bench.console.host_disconnected();
    }
    bench.console.host_connected();
    std::vector<std::uint16_t> values = port_open_values(8);
    ASSERT_FALSE(values.empty());
    EXPECT_EQ(values.back(), 1);
    EXPECT_LE(values.size(), 8u);
}

TEST_F(ConsoleTest, EveryReconnectShowsTheDriverACloseBeforeTheOpen)
{
    handshake();
    bench.console.host_connected();
    d.post_control_buffers(1);  // spare buffers run out right after an open was delivered
    // Clients come and go faster than the driver gives the device control buffers back.
    for (int i = 0; i < 10; ++i) {
        bench.console.host_disconnected();
        bench.console.host_connected();
    }
    std::vector<std::uint16_t> values = port_open_values(4);
    ASSERT_FALSE(values.empty());
    EXPECT_EQ(values.back(), 1);
    // Two opens in a row would hide a new connection: its bytes would be read as the old one's.
    for (std::size_t i = 1; i < values.size(); ++i)
        EXPECT_FALSE(values[i - 1] == 1 && values[i] == 1) << "open after open at message " << i;
}

TEST_F(ConsoleTest, HostBytesWaitUntilTheDriverHasThePortOpen)
{
    bench.console.host_connected();
    accept("early bytes");
    d.post_control_buffers(8);
    d.send_control(0, console::kDeviceReady, 1);
    auto add = d.take_control();
    ASSERT_TRUE(add.has_value());
    EXPECT_EQ(add->event, console::kDeviceAdd);
    post_receive_buffers(4, 64);  // the driver posts its buffers before it answers PORT_READY
    EXPECT_EQ(take_received(), "") << "bytes published before their PORT_OPEN would be dropped by the driver";
    d.send_control(1, console::kPortReady, 1);
    while (d.take_control()) {
    }
    EXPECT_EQ(take_received(), "early bytes");
}

TEST_F(ConsoleTest, ANewClientsBytesWaitForItsOwnPortOpen)
{
    handshake();
    bench.console.host_connected();
    d.post_control_buffers(1);
    for (int i = 0; i < 3; ++i) {  // uses the spare control buffers up; an open is the last one published
        bench.console.host_disconnected();
        bench.console.host_connected();
    }
    while (d.take_control()) {
    }
    post_receive_buffers(4, 64);
    // The driver is busy: no control buffer comes back while the client is replaced.
    bench.console.host_disconnected();
    bench.console.host_connected();
    accept("new client");
    EXPECT_EQ(take_received(), "") << "published before the close and open that precede it, the driver would drop them";
    d.post_control_buffers(4);
    std::vector<std::uint16_t> values;
    while (auto message = d.take_control())
        values.push_back(message->value);
    EXPECT_EQ(values, (std::vector<std::uint16_t>{0, 1}));
    EXPECT_EQ(take_received(), "new client");
}

TEST_F(ConsoleTest, HostBytesWaitForReceiveBuffersAndArriveInOrder)
{
    handshake();
    bench.console.host_connected();
    EXPECT_EQ(accept("hello, "), 7u);
    EXPECT_EQ(accept("guest"), 5u);
    post_receive_buffers(4, 4);
    EXPECT_EQ(take_received(), "hello, guest");
    EXPECT_EQ(bench.console.host_input_space(), ConsoleDevice::kBufferCapacity);
}

TEST_F(ConsoleTest, ReceiveNotificationsAreWantedOnlyWhileHostBytesWaitForBuffers)
{
    handshake();
    bench.console.host_connected();
    auto used_flags = [&] { return d.used_flags(console::kPort1Receive); };
    post_receive_buffers(2, 4);
    EXPECT_EQ(used_flags() & Virtqueue::kUsedFlagNoNotify, Virtqueue::kUsedFlagNoNotify)
        << "nothing to deliver: new buffers need no notification";
    EXPECT_EQ(accept("0123456789"), 10u);  // 8 bytes fit, 2 wait
    EXPECT_EQ(take_received(), "01234567");
    EXPECT_EQ(used_flags() & Virtqueue::kUsedFlagNoNotify, 0) << "bytes wait for a buffer: notify me";
    post_receive_buffers(1, 4);  // notifies, as the flag asks
    EXPECT_EQ(take_received(), "89");
    EXPECT_EQ(used_flags() & Virtqueue::kUsedFlagNoNotify, Virtqueue::kUsedFlagNoNotify);

    // A buffer posted without a notification while suppressed is found when bytes come.
    std::uint16_t head = d.post(console::kPort1Receive, {{kBufferBase + 0x8000, 16, true}});
    EXPECT_EQ(accept("later"), 5u);
    auto used = d.take_used(console::kPort1Receive);
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->id, head);
    EXPECT_EQ(used->length, 5u);
}

TEST_F(ConsoleTest, HostInputIsBoundedAndNothingIsLost)
{
    handshake();
    bench.console.host_connected();
    std::string big(ConsoleDevice::kBufferCapacity + 100, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
    std::size_t taken = accept(big);
    EXPECT_EQ(taken, ConsoleDevice::kBufferCapacity);
    EXPECT_EQ(bench.console.host_input_space(), 0u);
    std::string received;
    std::size_t offered = taken;
    while (received.size() < big.size()) {
        post_receive_buffers(16, 4096);
        received += take_received();
        offered += accept(std::string_view(big).substr(offered));
    }
    EXPECT_EQ(received, big);
}

TEST_F(ConsoleTest, GuestTransmitReachesTheHostInOrder)
{
    handshake();
    bench.console.host_connected();
    const std::string first = "reply one;", second = "reply two";
    d.put(kBufferBase, {reinterpret_cast<const std::uint8_t*>(first.data()), first.size()});
    d.put(kBufferBase + 0x1000, {reinterpret_cast<const std::uint8_t*>(second.data()), second.size()});
    d.post(console::kPort1Transmit, {{kBufferBase, 6, false}, {kBufferBase + 6, 4, false}});
    d.post(console::kPort1Transmit, {{kBufferBase + 0x1000, static_cast<std::uint32_t>(second.size()), false}});
    d.notify(console::kPort1Transmit);
    EXPECT_EQ(drain_host_output(), first + second);
    EXPECT_TRUE(d.take_used(console::kPort1Transmit).has_value());
    EXPECT_TRUE(d.take_used(console::kPort1Transmit).has_value());
}

TEST_F(ConsoleTest, GuestTransmitWaitsWhileTheHostBufferIsFull)
{
    handshake();
    bench.console.host_connected();
    // One 96 KiB chain: more than the host buffer holds.
    constexpr std::uint32_t kChain = 96 * 1024;
    std::vector<std::uint8_t> data(kChain);
    std::iota(data.begin(), data.end(), 0);
    d.put(kBufferBase, data);
    d.post(console::kPort1Transmit, {{kBufferBase, kChain, false}});
    d.notify(console::kPort1Transmit);
    EXPECT_EQ(bench.console.pending_for_host(), ConsoleDevice::kBufferCapacity);
    EXPECT_FALSE(d.take_used(console::kPort1Transmit).has_value()) << "chain is returned only when all of it is sent";
    std::string out = drain_host_output();
    ASSERT_EQ(out.size(), kChain);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), reinterpret_cast<const std::uint8_t*>(out.data())));
    EXPECT_TRUE(d.take_used(console::kPort1Transmit).has_value());
}

TEST_F(ConsoleTest, WithoutAClientGuestOutputIsDroppedNotStuck)
{
    handshake();
    d.put(kBufferBase, std::vector<std::uint8_t>(100, 'x'));
    d.post(console::kPort1Transmit, {{kBufferBase, 100, false}});
    d.notify(console::kPort1Transmit);
    EXPECT_TRUE(d.take_used(console::kPort1Transmit).has_value());
    EXPECT_EQ(bench.console.pending_for_host(), 0u);
}

TEST_F(ConsoleTest, DisconnectDropsPendingBytesAndReleasesAWaitingChain)
{
    handshake();
    bench.console.host_connected();
    accept("stale input");
    d.put(kBufferBase, std::vector<std::uint8_t>(96 * 1024, 'y'));
    d.post(console::kPort1Transmit, {{kBufferBase, 96 * 1024, false}});
    d.notify(console::kPort1Transmit);
    ASSERT_FALSE(d.take_used(console::kPort1Transmit).has_value());
    bench.console.host_disconnected();
    EXPECT_EQ(bench.console.pending_for_host(), 0u);
    EXPECT_EQ(bench.console.host_input_space(), ConsoleDevice::kBufferCapacity);
    EXPECT_TRUE(d.take_used(console::kPort1Transmit).has_value());
    bench.console.host_connected();
    accept("fresh");
    post_receive_buffers(1, 64);
    EXPECT_EQ(take_received(), "fresh");
}

TEST_F(ConsoleTest, Port0OutputIsConsumedAndDropped)
{
    d.put(kBufferBase, std::vector<std::uint8_t>(10, 'z'));
    d.post(console::kPort0Transmit, {{kBufferBase, 10, false}});
    d.notify(console::kPort0Transmit);
    EXPECT_TRUE(d.take_used(console::kPort0Transmit).has_value());
}

} // namespace
} // namespace delos::vmm::virtio
