// virtio_pci_transport_test.cpp: the guest's virtio-pci modern transport against a device model
// that can lie: a reset that never completes, FEATURES_OK refused, notify offsets outside the
// notify region, MSI-X vectors refused, a configuration generation that never settles. The
// transport must say why and never touch memory outside the structures the capabilities name.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "fake_pci.h"
#include "lib/pci/bars.h"

// The transport is guest code outside the shared library: compiled in here. (Virtqueue and the
// host frame allocator come from guest_virtio_driver_test.cpp, in the same binary.)
#include "drivers/virtio/pci_transport.cpp"

using namespace delos;
using namespace delos::virtio;
using namespace delos::test;

namespace {

constexpr pci::Address kAddress{0, 2, 0};
constexpr std::uint64_t kBar4 = 0xfebf8000, kBar1 = 0xfebff000;
constexpr std::uint64_t kCommon = kBar4, kIsr = kBar4 + 0x1000, kDeviceConfig = kBar4 + 0x2000, kNotify = kBar4 + 0x3000;
constexpr std::uint32_t kNotifyMultiplier = 4;

// QEMU-like virtio-pci modern console: common config at BAR4+0, ISR +0x1000, device config
// +0x2000, notify +0x3000 (multiplier 4), MSI-X table in BAR1.
class FakeVirtioPci final : public pci::MemoryAccess {
public:
    struct Queue {
        std::uint16_t size = 64, msix = 0xffff, enable = 0, notify_off = 0;
        std::uint64_t desc = 0, driver = 0, device = 0;
    };

    std::uint64_t device_features = kFeatureVersion1 | 2;  // VERSION_1 | MULTIPORT
    std::uint64_t driver_features = 0;
    std::uint32_t device_feature_select = 0, driver_feature_select = 0;
    std::uint8_t status = 0;
    std::uint8_t generation = 0;
    std::uint16_t config_msix = 0xffff;
    std::uint16_t queue_select = 0;
    std::vector<Queue> queues = std::vector<Queue>(6);
    std::uint8_t isr = 0;
    std::uint8_t device_config[0x1000] = {};
    std::uint8_t msix_table[0x1000] = {};
    std::vector<std::pair<std::uint64_t, std::uint16_t>> notifications;
    std::vector<std::uint64_t> stray;  // accesses outside every structure

    // Hostile knobs.
    bool never_resets = false;
    bool refuse_features_ok = false;
    bool refuse_vectors = false;
    bool churn_generation = false;
    bool refuse_driver_ok = false;
    std::size_t config_reads = 0;

    std::uint8_t read8(std::uint64_t a) override { return static_cast<std::uint8_t>(read(a, 1)); }
    std::uint16_t read16(std::uint64_t a) override { return static_cast<std::uint16_t>(read(a, 2)); }
    std::uint32_t read32(std::uint64_t a) override { return static_cast<std::uint32_t>(read(a, 4)); }
    void write8(std::uint64_t a, std::uint8_t v) override { write(a, v, 1); }
    void write16(std::uint64_t a, std::uint16_t v) override { write(a, v, 2); }
    void write32(std::uint64_t a, std::uint32_t v) override { write(a, v, 4); }

    Queue& selected() { return queues.at(queue_select); }

private:
    std::uint64_t read(std::uint64_t a, int width)
    {
        if (a >= kCommon && a < kCommon + 0x38) {
            std::uint64_t o = a - kCommon;
            bool valid = queue_select < queues.size();
            switch (o) {
            case 0x00: return device_feature_select;
            case 0x04: return device_feature_select < 2 ? std::uint32_t(device_features >> (32 * device_feature_select)) : 0;
            case 0x08: return driver_feature_select;
            case 0x10: return config_msix;
            case 0x12: return queues.size();
            case 0x14: return status;
            case 0x15:
                if (churn_generation)
                    ++generation;
                return generation;
            case 0x16: return queue_select;
            case 0x18: return valid ? selected().size : 0;
            case 0x1a: return valid ? selected().msix : 0xffff;
            case 0x1c: return valid ? selected().enable : 0;
            case 0x1e: return valid ? selected().notify_off : 0;
            default: return 0;
            }
        }
        if (a == kIsr) {
            std::uint8_t value = isr;
            isr = 0;
            return value;
        }
        if (a >= kDeviceConfig && a + width <= kDeviceConfig + 0x1000) {
            ++config_reads;
            std::uint64_t v = 0;
            std::memcpy(&v, device_config + (a - kDeviceConfig), width);
            return v;
        }
        if (a >= kBar1 && a + width <= kBar1 + 32) {
            std::uint64_t v = 0;
            std::memcpy(&v, msix_table + (a - kBar1), width);
            return v;
        }
        stray.push_back(a);
        return ~0ull;
    }

    void write(std::uint64_t a, std::uint32_t v, int width)
    {
        if (a >= kCommon && a < kCommon + 0x38) {
            std::uint64_t o = a - kCommon;
            bool valid = queue_select < queues.size();
            switch (o) {
            case 0x00: device_feature_select = v; return;
            case 0x08: driver_feature_select = v; return;
            case 0x0c:
                if (driver_feature_select < 2)
                    driver_features = (driver_features & ~(0xffffffffull << (32 * driver_feature_select))) |
                                      (std::uint64_t(v) << (32 * driver_feature_select));
                return;
            case 0x10: config_msix = refuse_vectors ? 0xffff : static_cast<std::uint16_t>(v); return;
            case 0x14:
                if (v == 0) {
                    if (!never_resets) {
                        status = 0;
                        config_msix = 0xffff;
                        queues = std::vector<Queue>(queues.size());
                    }
                    return;
                }
                if ((v & kStatusFeaturesOk) && (refuse_features_ok || (driver_features & ~device_features)))
                    v &= ~kStatusFeaturesOk;
                if ((v & kStatusDriverOk) && refuse_driver_ok)
                    v = (v & ~kStatusDriverOk) | kStatusNeedsReset;
                status = static_cast<std::uint8_t>(v);
                return;
            case 0x16: queue_select = static_cast<std::uint16_t>(v); return;
            case 0x18: if (valid && v <= selected().size) selected().size = static_cast<std::uint16_t>(v); return;
            case 0x1a: if (valid) selected().msix = refuse_vectors ? 0xffff : static_cast<std::uint16_t>(v); return;
            case 0x1c: if (valid) selected().enable = static_cast<std::uint16_t>(v); return;
            case 0x20: if (valid) selected().desc = (selected().desc & ~0xffffffffull) | v; return;
            case 0x24: if (valid) selected().desc = (selected().desc & 0xffffffffull) | (std::uint64_t(v) << 32); return;
            case 0x28: if (valid) selected().driver = (selected().driver & ~0xffffffffull) | v; return;
            case 0x2c: if (valid) selected().driver = (selected().driver & 0xffffffffull) | (std::uint64_t(v) << 32); return;
            case 0x30: if (valid) selected().device = (selected().device & ~0xffffffffull) | v; return;
            case 0x34: if (valid) selected().device = (selected().device & 0xffffffffull) | (std::uint64_t(v) << 32); return;
            default: return;
            }
        }
        if (a >= kNotify && a + width <= kNotify + 0x1000 && width == 2) {
            notifications.push_back({a, static_cast<std::uint16_t>(v)});
            return;
        }
        if (a >= kBar1 && a + width <= kBar1 + 32) {
            std::memcpy(msix_table + (a - kBar1), &v, width);
            return;
        }
        stray.push_back(a);
    }
};

class VirtioPciTransportTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        function_bytes = &qemu_like_virtio(config, kAddress, 0x1043);
        std::uint32_t max_ports = 2;
        std::memcpy(device.device_config + 4, &max_ports, 4);
    }
    ErrorOr<void> attach()
    {
        pci::Bar bars[pci::kMaxBars];
        TRY(pci::read_bars(config, kAddress, 6, bars));
        pci::Function function;
        function.address = kAddress;
        function.vendor_id = config.read16(kAddress, 0);
        function.device_id = config.read16(kAddress, 2);
        return transport.attach(config, device, function, bars);
    }
    void TearDown() override { EXPECT_TRUE(device.stray.empty()) << "first stray access at " << std::hex << device.stray[0]; }

    FakeConfigSpace config;
    FakeFunction* function_bytes = nullptr;
    FakeVirtioPci device;
    PciTransport transport;
};

} // namespace

TEST_F(VirtioPciTransportTest, BringsUpAQueueAndNotifiesAtItsNotifyAddress)
{
    ASSERT_FALSE(attach().is_error());
    EXPECT_EQ(transport.device_id(), 3u);
    std::uint16_t command = config.read16(kAddress, pci::reg::kCommand);
    EXPECT_TRUE(command & pci::kCommandMemorySpace);
    EXPECT_TRUE(command & pci::kCommandBusMaster);

    auto features = transport.negotiate_features(2, 0);
    ASSERT_FALSE(features.is_error()) << features.error().message;
    EXPECT_EQ(features.value(), kFeatureVersion1 | 2);
    EXPECT_EQ(device.driver_features, kFeatureVersion1 | 2);
    EXPECT_EQ(transport.read_config32(4), 2u);
    EXPECT_EQ(transport.queue_max_size(1), 64);
    EXPECT_EQ(transport.queue_max_size(6), 0);  // beyond num_queues

    device.queues[1].notify_off = 3;
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(1, 16).is_error());
    ASSERT_FALSE(transport.enable_queue(queue).is_error());
    EXPECT_EQ(device.queues[1].size, 16);
    EXPECT_EQ(device.queues[1].enable, 1);
    EXPECT_EQ(device.queues[1].desc, queue.descriptor_table_address());
    EXPECT_EQ(device.queues[1].driver, queue.avail_ring_address());
    EXPECT_EQ(device.queues[1].device, queue.used_ring_address());
    EXPECT_EQ(device.queues[1].msix, PciTransport::kNoVector);  // INTx: no vector

    transport.notify(1);
    ASSERT_EQ(device.notifications.size(), 1u);
    EXPECT_EQ(device.notifications[0].first, kNotify + 3 * kNotifyMultiplier);
    EXPECT_EQ(device.notifications[0].second, 1);
    transport.notify(2);  // never enabled: dropped
    transport.notify(60000);
    EXPECT_EQ(device.notifications.size(), 1u);

    ASSERT_FALSE(transport.set_driver_ok().is_error());
    EXPECT_TRUE(device.status & kStatusDriverOk);
}

TEST_F(VirtioPciTransportTest, TransitionalIdsTakeTheTypeFromTheSubsystem)
{
    function_bytes->set16(0x02, 0x1003);
    ASSERT_FALSE(attach().is_error());
    EXPECT_EQ(transport.device_id(), 3u);
    function_bytes->set16(0x2e, 0);  // transitional id without a subsystem type
    PciTransport other;
    transport.~PciTransport();
    new (&transport) PciTransport();
    EXPECT_TRUE(attach().is_error());
}

TEST_F(VirtioPciTransportTest, StructuresInAnUnassignedBarAreRefused)
{
    function_bytes->memory_bar(4, 0, 0x4000, true, true);
    auto attached = attach();
    ASSERT_TRUE(attached.is_error());
    EXPECT_STREQ(attached.error().message, "virtio-pci: a structure lies in an unassigned BAR");
}

TEST_F(VirtioPciTransportTest, AResetThatNeverCompletesIsAnError)
{
    ASSERT_FALSE(attach().is_error());
    device.status = kStatusAcknowledge;
    device.never_resets = true;
    auto features = transport.negotiate_features(0, 0);
    ASSERT_TRUE(features.is_error());
    EXPECT_STREQ(features.error().message, "virtio-pci: the device did not reset");
}

TEST_F(VirtioPciTransportTest, RefusedOrMissingFeaturesLeaveTheDeviceFailed)
{
    ASSERT_FALSE(attach().is_error());
    device.refuse_features_ok = true;
    auto refused = transport.negotiate_features(0, 0);
    ASSERT_TRUE(refused.is_error());
    EXPECT_TRUE(device.status & kStatusFailed);

    device.refuse_features_ok = false;
    device.device_features = 2;  // a legacy-only device: no VERSION_1
    auto legacy = transport.negotiate_features(0, 0);
    ASSERT_TRUE(legacy.is_error());
    EXPECT_EQ(legacy.error().value, kFeatureVersion1);
    EXPECT_TRUE(device.status & kStatusFailed);
}

TEST_F(VirtioPciTransportTest, NotifyOffsetsOutsideTheNotifyRegionAreRefused)
{
    ASSERT_FALSE(attach().is_error());
    ASSERT_FALSE(transport.negotiate_features(0, 0).is_error());
    device.queues[0].notify_off = 0x400;  // 0x400 * 4 = 0x1000: the region's end
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 16).is_error());
    auto enabled = transport.enable_queue(queue);
    ASSERT_TRUE(enabled.is_error());
    EXPECT_STREQ(enabled.error().message, "virtio-pci: queue notify address outside the notify region");
    EXPECT_EQ(device.queues[0].enable, 0);
    transport.notify(0);
    EXPECT_TRUE(device.notifications.empty());

    device.queues[0].notify_off = 0x3ff;  // the last slot that holds a 16-bit write
    ASSERT_FALSE(transport.enable_queue(queue).is_error());
    transport.notify(0);
    ASSERT_EQ(device.notifications.size(), 1u);
    EXPECT_EQ(device.notifications[0].first, kNotify + 0xffc);
}

TEST_F(VirtioPciTransportTest, QueuesTheDeviceDoesNotHaveOrIsAlreadyUsingAreRefused)
{
    ASSERT_FALSE(attach().is_error());
    ASSERT_FALSE(transport.negotiate_features(0, 0).is_error());
    Virtqueue beyond;
    ASSERT_FALSE(beyond.allocate(6, 16).is_error());
    EXPECT_TRUE(transport.enable_queue(beyond).is_error());
    Virtqueue large;
    ASSERT_FALSE(large.allocate(0, 128).is_error());  // the device allows 64
    EXPECT_TRUE(transport.enable_queue(large).is_error());
    device.queues[2].enable = 1;
    Virtqueue busy;
    ASSERT_FALSE(busy.allocate(2, 16).is_error());
    EXPECT_TRUE(transport.enable_queue(busy).is_error());
}

TEST_F(VirtioPciTransportTest, MsixProgramsTheTableAndVectorsAndCountsCauses)
{
    ASSERT_FALSE(attach().is_error());
    ASSERT_FALSE(transport.use_msix(0xfee00000, 0xa0, 0xa1).is_error());
    std::uint32_t entry[8];
    std::memcpy(entry, device.msix_table, sizeof entry);
    EXPECT_EQ(entry[0], 0xfee00000u);
    EXPECT_EQ(entry[2], 0xa0u);
    EXPECT_EQ(entry[3], 0u);  // unmasked
    EXPECT_EQ(entry[4], 0xfee00000u);
    EXPECT_EQ(entry[6], 0xa1u);
    std::uint16_t control = config.read16(kAddress, static_cast<std::uint16_t>(transport.layout().msix.capability + 2));
    EXPECT_TRUE(control & 0x8000);
    EXPECT_FALSE(control & 0x4000);

    ASSERT_FALSE(transport.negotiate_features(0, 0).is_error());
    EXPECT_EQ(device.config_msix, 0);
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 16).is_error());
    ASSERT_FALSE(transport.enable_queue(queue).is_error());
    EXPECT_EQ(device.queues[0].msix, 1);

    device.isr = 3;  // with MSI-X the ISR is not the source of causes
    EXPECT_EQ(transport.take_interrupt_causes(), 0u);
    transport.note_msix_interrupt(kInterruptUsedBuffer);
    transport.note_msix_interrupt(kInterruptConfigChange);
    EXPECT_EQ(transport.take_interrupt_causes(), kInterruptUsedBuffer | kInterruptConfigChange);
    EXPECT_EQ(transport.take_interrupt_causes(), 0u);
}

TEST_F(VirtioPciTransportTest, RefusedMsixVectorsAreErrors)
{
    ASSERT_FALSE(attach().is_error());
    ASSERT_FALSE(transport.use_msix(0xfee00000, 0xa0, 0xa1).is_error());
    device.refuse_vectors = true;
    auto features = transport.negotiate_features(0, 0);
    ASSERT_TRUE(features.is_error());
    EXPECT_STREQ(features.error().message, "virtio-pci: the device refused the configuration MSI-X vector");
}

TEST_F(VirtioPciTransportTest, NoMsixCapabilityMeansUseMsixFails)
{
    function_bytes->capabilities({{0x09, virtio_cap(1, 4, 0x0000, 0x1000)},
                                  {0x09, virtio_cap(3, 4, 0x1000, 0x1000)},
                                  {0x09, notify_cap(4, 0x3000, 0x1000, 4)}},
                                 0x84);
    ASSERT_FALSE(attach().is_error());
    EXPECT_TRUE(transport.use_msix(0xfee00000, 0xa0, 0xa1).is_error());
    EXPECT_EQ(transport.read_config32(4), 0u);  // no device config structure: nothing is read
    EXPECT_EQ(device.config_reads, 0u);
}

TEST_F(VirtioPciTransportTest, IntxReadsAndAcknowledgesTheIsr)
{
    ASSERT_FALSE(attach().is_error());
    function_bytes->set16(0x04, static_cast<std::uint16_t>(function_bytes->get32(0x04) | pci::kCommandInterruptDisable));
    transport.use_intx();
    EXPECT_FALSE(config.read16(kAddress, pci::reg::kCommand) & pci::kCommandInterruptDisable);
    device.isr = 0xff;  // reserved bits are dropped
    EXPECT_EQ(transport.take_interrupt_causes(), kInterruptUsedBuffer | kInterruptConfigChange);
    EXPECT_EQ(transport.take_interrupt_causes(), 0u);  // the read acknowledged them
}

TEST_F(VirtioPciTransportTest, DeviceConfigReadsStayInsideTheStructureAndGiveUpOnChurn)
{
    ASSERT_FALSE(attach().is_error());
    EXPECT_EQ(transport.read_config32(0xffc), 0u);  // last 4 bytes: inside
    std::size_t reads = device.config_reads;
    EXPECT_EQ(transport.read_config32(0xffd), 0u);  // would cross the end: not read
    EXPECT_EQ(transport.read_config32(0xffffffff), 0u);
    EXPECT_EQ(device.config_reads, reads);
    device.churn_generation = true;
    transport.read_config32(4);
    EXPECT_EQ(device.config_reads, reads + 8);  // bounded retries
}

TEST_F(VirtioPciTransportTest, DriverOkRefusedIsReported)
{
    ASSERT_FALSE(attach().is_error());
    ASSERT_FALSE(transport.negotiate_features(0, 0).is_error());
    device.refuse_driver_ok = true;
    auto ok = transport.set_driver_ok();
    ASSERT_TRUE(ok.is_error());
    EXPECT_TRUE(transport.needs_reset());
}
