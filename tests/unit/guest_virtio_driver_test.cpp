// guest_virtio_driver_test.cpp: the guest driver's split virtqueue against a hostile device (used
// ring ids, lengths and indexes it must refuse), and virtio_mmio.device option parsing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

// The driver's sources are guest code outside the shared library: compile them in here, with the
// frame allocator replaced by host memory (fake_frame_allocator.cpp).
#include "drivers/virtio/mmio_device_location.cpp"
#include "drivers/virtio/port_name.h"
#include "drivers/virtio/virtqueue.cpp"

// The frame allocator is tests/unit/fake_frame_allocator.cpp (host memory, shared with the
// linear map's test).

namespace {

using namespace delos;
using namespace delos::virtio;

// The device's view of a queue: reads the avail ring and descriptors, writes the used ring.
class FakeDevice {
public:
    explicit FakeDevice(const Virtqueue& queue) : m_queue(queue) {}

    std::uint16_t avail_index() const { return at<std::uint16_t>(m_queue.avail_ring_address() + 2); }
    std::uint16_t avail_flags() const { return at<std::uint16_t>(m_queue.avail_ring_address()); }
    std::uint16_t avail_entry(std::uint16_t slot) const
    {
        return at<std::uint16_t>(m_queue.avail_ring_address() + 4 + 2 * (slot % m_queue.size()));
    }
    struct Descriptor {
        std::uint64_t address;
        std::uint32_t length;
        std::uint16_t flags;
        std::uint16_t next;
    };
    Descriptor descriptor(std::uint16_t id) const
    {
        Descriptor d;
        std::memcpy(&d, reinterpret_cast<const void*>(m_queue.descriptor_table_address() + 16ull * id), 16);
        return d;
    }
    // VIRTQ_USED_F_NO_NOTIFY: whether the device wants notifications of new buffers.
    void set_used_flags(std::uint16_t flags) { std::memcpy(reinterpret_cast<void*>(m_queue.used_ring_address()), &flags, 2); }
    // Writes used element number `m_used` and publishes it.
    void give_back(std::uint32_t id, std::uint32_t length) { give_back_at(m_used, id, length, static_cast<std::uint16_t>(m_used + 1)); ++m_used; }
    void give_back_at(std::uint16_t slot, std::uint32_t id, std::uint32_t length, std::uint16_t new_index)
    {
        std::uint64_t element = m_queue.used_ring_address() + 4 + 8ull * (slot % m_queue.size());
        std::memcpy(reinterpret_cast<void*>(element), &id, 4);
        std::memcpy(reinterpret_cast<void*>(element + 4), &length, 4);
        std::memcpy(reinterpret_cast<void*>(m_queue.used_ring_address() + 2), &new_index, 2);
    }

private:
    template <typename T>
    T at(std::uint64_t address) const
    {
        T value;
        std::memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
        return value;
    }

    const Virtqueue& m_queue;
    std::uint16_t m_used = 0;
};

std::uint8_t g_buffers[8][256];
std::uint64_t buffer(int i) { return reinterpret_cast<std::uint64_t>(g_buffers[i]); }

TEST(GuestVirtqueue, RefusesSizesThatAreNotPowersOfTwo)
{
    for (std::uint16_t size : {0, 3, 100, 512}) {
        Virtqueue queue;
        EXPECT_TRUE(queue.allocate(0, size).is_error()) << size;
    }
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(4, 16).is_error());
    EXPECT_EQ(queue.index(), 4);
    EXPECT_EQ(queue.free_descriptors(), 16);
    EXPECT_EQ(queue.descriptor_table_address() % 4096, 0u);
    EXPECT_EQ(queue.avail_ring_address() % 2, 0u);
    EXPECT_EQ(queue.used_ring_address() % 4, 0u);
    EXPECT_GE(queue.used_ring_address(), queue.avail_ring_address() + 4 + 2 * 16 + 2);
    FakeDevice device(queue);
    EXPECT_EQ(device.avail_index(), 0);  // zeroed, not the allocator's 0xa5 fill
}

TEST(GuestVirtqueue, PublishSkipsTheNotificationWhileTheDeviceSuppressesIt)
{
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 8).is_error());
    FakeDevice device(queue);
    BufferSegment segment{buffer(0), 64, true};
    device.set_used_flags(1);  // VIRTQ_USED_F_NO_NOTIFY
    ASSERT_FALSE(queue.add_buffer(segment).is_error());
    EXPECT_FALSE(queue.publish()) << "the device said it will look by itself";
    EXPECT_EQ(device.avail_index(), 1) << "published all the same";
    device.set_used_flags(0);
    ASSERT_FALSE(queue.add_buffer({buffer(1), 64, true}).is_error());
    EXPECT_TRUE(queue.publish());
    EXPECT_EQ(device.avail_index(), 2);
    device.set_used_flags(0xfffe);  // other bits are not ours to interpret
    ASSERT_FALSE(queue.add_buffer({buffer(2), 64, true}).is_error());
    EXPECT_TRUE(queue.publish());
}

TEST(GuestVirtqueue, ChainIsVisibleOnlyAfterPublishAndComesBackWhole)
{
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 8).is_error());
    FakeDevice device(queue);
    BufferSegment chain[] = {{buffer(0), 16, false}, {buffer(1), 100, true}, {buffer(2), 28, true}};
    auto head = queue.add_chain(chain, 3);
    ASSERT_FALSE(head.is_error());
    EXPECT_EQ(queue.free_descriptors(), 5);
    EXPECT_EQ(device.avail_index(), 0);  // not published yet
    EXPECT_TRUE(queue.publish());
    EXPECT_FALSE(queue.publish());  // nothing new: no second notification
    EXPECT_EQ(device.avail_index(), 1);
    EXPECT_EQ(device.avail_entry(0), head.value());

    auto first = device.descriptor(head.value());
    EXPECT_EQ(first.address, buffer(0));
    EXPECT_EQ(first.length, 16u);
    EXPECT_EQ(first.flags, 1);  // NEXT, device-readable
    auto second = device.descriptor(first.next);
    EXPECT_EQ(second.flags, 1 | 2);  // NEXT | WRITE
    auto third = device.descriptor(second.next);
    EXPECT_EQ(third.address, buffer(2));
    EXPECT_EQ(third.flags, 2);

    UsedBuffer used{};
    auto none = queue.take_used(used);
    ASSERT_FALSE(none.is_error());
    EXPECT_FALSE(none.value());

    device.give_back(head.value(), 128);  // exactly the writable bytes: allowed
    auto taken = queue.take_used(used);
    ASSERT_FALSE(taken.is_error());
    EXPECT_TRUE(taken.value());
    EXPECT_EQ(used.head, head.value());
    EXPECT_EQ(used.written, 128u);
    EXPECT_EQ(queue.free_descriptors(), 8);
    EXPECT_EQ(queue.outstanding_chains(), 0);
}

TEST(GuestVirtqueue, DescriptorsAreReusedAcrossManyRoundsAndWrapIndexes)
{
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 4).is_error());
    FakeDevice device(queue);
    for (int round = 0; round < 70000; ++round) {  // past the 16-bit ring indexes
        auto head = queue.add_buffer({buffer(round % 4), 64, true});
        ASSERT_FALSE(head.is_error()) << round;
        queue.publish();
        device.give_back(head.value(), static_cast<std::uint32_t>(round % 65));
        UsedBuffer used{};
        auto taken = queue.take_used(used);
        ASSERT_TRUE(!taken.is_error() && taken.value()) << round;
        ASSERT_EQ(used.written, static_cast<std::uint32_t>(round % 65));
    }
    EXPECT_EQ(queue.free_descriptors(), 4);
}

TEST(GuestVirtqueue, RefusesMoreChainsThanFreeDescriptorsAndReadableAfterWritable)
{
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 2).is_error());
    BufferSegment three[] = {{buffer(0), 1, false}, {buffer(1), 1, false}, {buffer(2), 1, false}};
    EXPECT_TRUE(queue.add_chain(three, 3).is_error());
    BufferSegment backwards[] = {{buffer(0), 1, true}, {buffer(1), 1, false}};
    EXPECT_TRUE(queue.add_chain(backwards, 2).is_error());
    EXPECT_EQ(queue.free_descriptors(), 2);
}

// Each hostile used-ring entry breaks the queue with an error value, and the queue stays broken.
struct HostileEntry {
    const char* what;
    std::uint32_t id_offset;  // added to the real head
    std::uint32_t length;
    std::uint16_t used_index;
};

class GuestVirtqueueHostile : public ::testing::TestWithParam<HostileEntry> {};

TEST_P(GuestVirtqueueHostile, BreaksTheQueueWithAReason)
{
    const HostileEntry& entry = GetParam();
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 8).is_error());
    FakeDevice device(queue);
    auto head = queue.add_buffer({buffer(0), 64, true});
    ASSERT_FALSE(head.is_error());
    queue.publish();
    device.give_back_at(0, head.value() + entry.id_offset, entry.length, entry.used_index);
    UsedBuffer used{};
    auto taken = queue.take_used(used);
    ASSERT_TRUE(taken.is_error()) << entry.what;
    EXPECT_TRUE(queue.broken());
    EXPECT_STRNE(queue.breakage().message, "");
    EXPECT_TRUE(queue.take_used(used).is_error());
    EXPECT_TRUE(queue.add_buffer({buffer(1), 8, true}).is_error());
    EXPECT_FALSE(queue.publish());
}

INSTANTIATE_TEST_SUITE_P(
    UsedRing, GuestVirtqueueHostile,
    ::testing::Values(HostileEntry{"id past the queue", 100, 0, 1},
                      HostileEntry{"id not outstanding", 1, 0, 1},  // head + 1 was never handed out
                      HostileEntry{"length beyond the buffer", 0, 65, 1},
                      HostileEntry{"used.idx beyond what the device holds", 0, 0, 2},
                      HostileEntry{"used.idx far ahead", 0, 0, 0x8000}));

TEST(GuestVirtqueue, ReturningTheSameChainTwiceIsRefused)
{
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 8).is_error());
    FakeDevice device(queue);
    auto first = queue.add_buffer({buffer(0), 64, true});
    auto second = queue.add_buffer({buffer(1), 64, true});
    ASSERT_FALSE(first.is_error() || second.is_error());
    queue.publish();
    device.give_back(first.value(), 1);
    device.give_back(first.value(), 1);  // a replay instead of `second`
    UsedBuffer used{};
    auto taken = queue.take_used(used);
    ASSERT_FALSE(taken.is_error());
    EXPECT_TRUE(queue.take_used(used).is_error());
}

TEST(GuestVirtqueue, InterruptSuppressionFlag)
{
    Virtqueue queue;
    ASSERT_FALSE(queue.allocate(0, 8).is_error());
    FakeDevice device(queue);
    queue.set_interrupts_wanted(false);
    EXPECT_EQ(device.avail_flags(), 1);
    queue.set_interrupts_wanted(true);
    EXPECT_EQ(device.avail_flags(), 0);
}

TEST(MmioDeviceLocation, ParsesTheFormatsLinuxAndFirecrackerUse)
{
    auto vmm = parse_mmio_device_location("4K@0xd0000000:5");
    ASSERT_FALSE(vmm.is_error()) << vmm.error().message;
    EXPECT_EQ(vmm.value().base, 0xd0000000u);
    EXPECT_EQ(vmm.value().size, 4096u);
    EXPECT_EQ(vmm.value().irq, 5u);
    auto decimal = parse_mmio_device_location("1M@3489660928:23");
    ASSERT_FALSE(decimal.is_error());
    EXPECT_EQ(decimal.value().size, 1u << 20);
    EXPECT_EQ(decimal.value().base, 3489660928u);
    auto bytes = parse_mmio_device_location("0x1000@0xD0001000:0");
    ASSERT_FALSE(bytes.is_error());
    EXPECT_EQ(bytes.value().size, 0x1000u);
}

// QEMU microvm (acpi=off) announces 0x200-byte windows packed inside one page.
TEST(MmioDeviceLocation, AcceptsQemuMicrovmSubPageWindows)
{
    auto microvm = parse_mmio_device_location("512@0xfeb00e00:12");
    ASSERT_FALSE(microvm.is_error()) << microvm.error().message;
    EXPECT_EQ(microvm.value().base, 0xfeb00e00u);
    EXPECT_EQ(microvm.value().size, 512u);
    EXPECT_EQ(microvm.value().irq, 12u);
}

TEST(PortName, StopsAtTheFirstNulAsQemuTerminatesIt)
{
    const char qemu[] = "org.delos.control.0";  // sizeof includes the NUL QEMU sends
    EXPECT_EQ(port_name_length(ByteView(qemu, sizeof qemu), 64), sizeof qemu - 1);
    EXPECT_EQ(port_name_length(ByteView(qemu, sizeof qemu - 1), 64), sizeof qemu - 1);  // delos-vmm: no NUL
    const char padded[] = "a\0\0\0b";
    EXPECT_EQ(port_name_length(ByteView(padded, sizeof padded), 64), 1u);
    EXPECT_EQ(port_name_length(ByteView(qemu, sizeof qemu), 5), 5u);  // capped
    EXPECT_EQ(port_name_length(ByteView(qemu, 0), 64), 0u);
}

TEST(MmioDeviceLocation, RefusesMalformedValuesWithAReason)
{
    for (const char* bad : {"", "4K", "4K@0xd0000000", "@0xd0000000:5", "4K@:5", "4K@0xd0000000:", "4Q@0x1000:5",
                            "4K@0xd0000123:5", "512@0xfeb00e02:12", "4K@0xd0000000:24", "4K@0xd0000000:5x", "256@0xd0000000:5",
                            "4K@0xfffffffffffff000:5", "99999999999999999999K@0x1000:5", "4K@0xd0000000:-1"}) {
        auto parsed = parse_mmio_device_location(bad);
        EXPECT_TRUE(parsed.is_error()) << "'" << bad << "' was accepted";
        if (parsed.is_error())
            EXPECT_STRNE(parsed.error().message, "") << bad;
    }
}

} // namespace
