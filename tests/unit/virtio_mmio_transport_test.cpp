// virtio_mmio_transport_test.cpp: the virtio-mmio register file, status machine and NEEDS_RESET on hostile input.
#include <gtest/gtest.h>

#include "virtio_test_driver.h"

namespace delos::vmm::virtio {
namespace {

using namespace testing;

class MmioTransportTest : public ::testing::Test {
protected:
    bool needs_reset() { return bench.driver.read(mmio::kStatus) & kStatusNeedsReset; }
    // The NEEDS_RESET contract: status bit, config-change interrupt, and a reason to log.
    void expect_needs_reset(const char* what)
    {
        EXPECT_TRUE(needs_reset()) << what;
        EXPECT_TRUE(bench.driver.read(mmio::kInterruptStatus) & mmio::kInterruptConfigChange) << what;
        EXPECT_GT(bench.interrupt.count.load(), 0) << what;
        EXPECT_FALSE(bench.transport.failure_reason().empty()) << what;
    }
    // Reset and a full bring-up plus handshake work again afterwards.
    void expect_recovers_after_reset()
    {
        bench.driver.write(mmio::kStatus, 0);
        EXPECT_EQ(bench.driver.read(mmio::kStatus), 0u);
        EXPECT_EQ(bench.driver.read(mmio::kInterruptStatus), 0u);
        TestDriver fresh(bench.memory, bench.transport);
        fresh.bring_up_console();
        fresh.post_control_buffers(2);
        fresh.send_control(0, console::kDeviceReady, 1);
        auto message = fresh.take_control();
        ASSERT_TRUE(message.has_value());
        EXPECT_EQ(message->event, console::kDeviceAdd);
        EXPECT_FALSE(needs_reset());
    }
    ConsoleBench bench;
};

TEST_F(MmioTransportTest, IdentifiesAsVirtioMmioVersion2Console)
{
    auto& d = bench.driver;
    EXPECT_EQ(d.read(mmio::kMagicValue), 0x74726976u);
    EXPECT_EQ(d.read(mmio::kVersion), 2u);
    EXPECT_EQ(d.read(mmio::kDeviceId), 3u);
    EXPECT_EQ(d.read(mmio::kVendorId), mmio::kVendorDelos);
    d.write(mmio::kDeviceFeaturesSel, 0);
    EXPECT_EQ(d.read(mmio::kDeviceFeatures), 1u << 1);  // VIRTIO_CONSOLE_F_MULTIPORT
    d.write(mmio::kDeviceFeaturesSel, 1);
    EXPECT_EQ(d.read(mmio::kDeviceFeatures), 1u);  // VIRTIO_F_VERSION_1 (bit 32)
    d.write(mmio::kDeviceFeaturesSel, 2);
    EXPECT_EQ(d.read(mmio::kDeviceFeatures), 0u);
    EXPECT_EQ(d.read(mmio::kStatus), 0u);
    EXPECT_EQ(d.read(mmio::kShmLenLow), 0xffffffffu);
}

TEST_F(MmioTransportTest, QueueNumMaxCountsTheQueuesAndOutOfRangeReadsZero)
{
    auto& d = bench.driver;
    for (std::uint32_t queue = 0; queue < console::kQueueCount; ++queue) {
        d.write(mmio::kQueueSel, queue);
        EXPECT_EQ(d.read(mmio::kQueueNumMax), console::kQueueMaxSize);
        EXPECT_EQ(d.read(mmio::kQueueReady), 0u);
    }
    d.write(mmio::kQueueSel, console::kQueueCount);
    EXPECT_EQ(d.read(mmio::kQueueNumMax), 0u);  // how a driver discovers the count: not an error
    EXPECT_FALSE(needs_reset());
}

TEST_F(MmioTransportTest, ConfigSpaceReportsTwoPorts)
{
    std::uint32_t max_ports = 0;
    bench.transport.mmio_read(mmio::kConfig + 4, {reinterpret_cast<std::uint8_t*>(&max_ports), 4});
    EXPECT_EQ(max_ports, 2u);
    std::uint8_t beyond[4] = {1, 1, 1, 1};
    bench.transport.mmio_read(mmio::kConfig + 0x200, beyond);
    EXPECT_EQ(beyond[0] | beyond[1] | beyond[2] | beyond[3], 0);
}

TEST_F(MmioTransportTest, FeaturesOkNeedsVersion1AndOnlyOfferedBits)
{
    EXPECT_FALSE(bench.driver.negotiate(console::kFeatureMultiport));                       // legacy driver
    EXPECT_FALSE(bench.driver.negotiate(kFeatureVersion1 | (1ull << 28)));                  // not offered
    EXPECT_TRUE(bench.driver.negotiate(kFeatureVersion1));                                  // single port
    EXPECT_TRUE(bench.driver.negotiate(kFeatureVersion1 | console::kFeatureMultiport));
}

TEST_F(MmioTransportTest, ResetClearsStatusQueuesAndInterrupts)
{
    bench.driver.bring_up_console();
    bench.driver.write(mmio::kQueueSel, 2);
    EXPECT_EQ(bench.driver.read(mmio::kQueueReady), 1u);
    bench.driver.write(mmio::kStatus, 0);
    EXPECT_EQ(bench.driver.read(mmio::kStatus), 0u);
    bench.driver.write(mmio::kQueueSel, 2);
    EXPECT_EQ(bench.driver.read(mmio::kQueueReady), 0u);
    EXPECT_EQ(bench.driver.read(mmio::kQueueNumMax), console::kQueueMaxSize);
}

TEST_F(MmioTransportTest, MisalignedOrNarrowRegisterAccessIsIgnored)
{
    std::uint16_t half = 0xffff;
    bench.transport.mmio_read(mmio::kMagicValue, {reinterpret_cast<std::uint8_t*>(&half), 2});
    EXPECT_EQ(half, 0);
    std::uint32_t value = kStatusAcknowledge;
    bench.transport.mmio_write(mmio::kStatus + 1, {reinterpret_cast<std::uint8_t*>(&value), 4});
    EXPECT_EQ(bench.driver.read(mmio::kStatus), 0u);
}

TEST_F(MmioTransportTest, InterruptAckClearsOnlyTheAcknowledgedBits)
{
    bench.driver.bring_up_console();
    bench.driver.post_control_buffers(1);
    bench.driver.send_control(0, console::kDeviceReady, 1);
    EXPECT_EQ(bench.driver.read(mmio::kInterruptStatus), mmio::kInterruptUsedBuffer);
    bench.driver.write(mmio::kInterruptAck, mmio::kInterruptConfigChange);
    EXPECT_EQ(bench.driver.read(mmio::kInterruptStatus), mmio::kInterruptUsedBuffer);
    bench.driver.write(mmio::kInterruptAck, mmio::kInterruptUsedBuffer);
    EXPECT_EQ(bench.driver.read(mmio::kInterruptStatus), 0u);
}

TEST_F(MmioTransportTest, QueueSizeNotAPowerOfTwoNeedsReset)
{
    ASSERT_TRUE(bench.driver.negotiate(kFeatureVersion1 | console::kFeatureMultiport));
    bench.driver.setup_queue(0, 12);
    expect_needs_reset("queue size 12");
    expect_recovers_after_reset();
}

TEST_F(MmioTransportTest, ConfiguringAQueueThatDoesNotExistNeedsReset)
{
    ASSERT_TRUE(bench.driver.negotiate(kFeatureVersion1 | console::kFeatureMultiport));
    bench.driver.write(mmio::kQueueSel, 9);
    bench.driver.write(mmio::kQueueNum, 16);
    expect_needs_reset("queue 9 configured");
    expect_recovers_after_reset();
}

TEST_F(MmioTransportTest, NotifyingAQueueThatDoesNotExistNeedsReset)
{
    bench.driver.bring_up_console();
    bench.driver.notify(0x1234);
    expect_needs_reset("queue 0x1234 notified");
    expect_recovers_after_reset();
}

TEST_F(MmioTransportTest, RingOutsideRamNeedsReset)
{
    ASSERT_TRUE(bench.driver.negotiate(kFeatureVersion1 | console::kFeatureMultiport));
    bench.driver.write(mmio::kQueueSel, 0);
    bench.driver.write(mmio::kQueueNum, 16);
    bench.driver.write(mmio::kQueueDescLow, 0);
    bench.driver.write(mmio::kQueueDescHigh, 0x10);  // 64 GiB: far outside RAM
    bench.driver.write(mmio::kQueueReady, 1);
    expect_needs_reset("descriptor table at 64 GiB");
    expect_recovers_after_reset();
}

// Hostile chains, each sent on the control transmit queue after a good bring-up.
class HostileChainTest : public MmioTransportTest {
protected:
    void SetUp() override { bench.driver.bring_up_console(); }
};

TEST_F(HostileChainTest, DescriptorAddressOutsideRamNeedsReset)
{
    bench.driver.post(console::kControlTransmit, {{kMemoryBytes + 0x1000, 8, false}});
    bench.driver.notify(console::kControlTransmit);
    expect_needs_reset("descriptor outside RAM");
    EXPECT_NE(bench.transport.failure_reason().find("not inside guest RAM"), std::string::npos);
    expect_recovers_after_reset();
}

TEST_F(HostileChainTest, DescriptorLoopNeedsReset)
{
    auto& d = bench.driver;
    d.write_descriptor(console::kControlTransmit, 0, kBufferBase, 8, Virtqueue::kDescriptorFlagNext, 1);
    d.write_descriptor(console::kControlTransmit, 1, kBufferBase, 8, Virtqueue::kDescriptorFlagNext, 0);
    d.publish(console::kControlTransmit, 0);
    d.notify(console::kControlTransmit);
    expect_needs_reset("descriptor loop");
    EXPECT_NE(bench.transport.failure_reason().find("loop"), std::string::npos);
    expect_recovers_after_reset();
}

TEST_F(HostileChainTest, AbsurdLengthNeedsReset)
{
    bench.driver.post(console::kPort1Transmit, {{kBufferBase, 0xffffffffu, false}});
    bench.driver.notify(console::kPort1Transmit);
    expect_needs_reset("4 GiB descriptor in 1 MiB of RAM");
    expect_recovers_after_reset();
}

TEST_F(HostileChainTest, AvailIndexJumpNeedsReset)
{
    bench.driver.set_avail_index(console::kControlTransmit, 1000);
    bench.driver.notify(console::kControlTransmit);
    expect_needs_reset("avail index jump");
    EXPECT_NE(bench.transport.failure_reason().find("avail index"), std::string::npos);
    expect_recovers_after_reset();
}

TEST_F(HostileChainTest, NotificationsAreIgnoredUntilReset)
{
    bench.driver.set_avail_index(console::kControlTransmit, 1000);
    bench.driver.notify(console::kControlTransmit);
    ASSERT_TRUE(needs_reset());
    std::string first_reason = bench.transport.failure_reason();
    bench.driver.post_control_buffers(2);
    bench.driver.notify(console::kControlReceive);
    EXPECT_FALSE(bench.driver.take_used(console::kControlReceive).has_value());
    EXPECT_EQ(bench.transport.failure_reason(), first_reason);
    bench.driver.write(mmio::kStatus, bench.driver.read(mmio::kStatus) & ~kStatusNeedsReset);
    EXPECT_TRUE(needs_reset()) << "only writing 0 to Status clears NEEDS_RESET";
}

} // namespace
} // namespace delos::vmm::virtio
