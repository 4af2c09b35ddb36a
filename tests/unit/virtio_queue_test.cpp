// virtio_queue_test.cpp: the split virtqueue against well-formed and hostile rings in guest memory.
#include <gtest/gtest.h>

#include <cstring>

#include "guest_memory.h"
#include "virtio/queue.h"

namespace delos::vmm::virtio {
namespace {

constexpr std::uint64_t kMemoryBytes = 1 << 20;
constexpr std::uint64_t kDescriptors = 0x1000, kAvail = 0x2000, kUsed = 0x3000;
constexpr std::uint16_t kSize = 8;

class VirtqueueTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        queue.set_size(kSize);
        queue.set_descriptor_table(kDescriptors);
        queue.set_avail_ring(kAvail);
        queue.set_used_ring(kUsed);
        ASSERT_FALSE(queue.make_ready(memory).has_value());
    }
    void descriptor(std::uint16_t index, std::uint64_t address, std::uint32_t length, std::uint16_t flags,
                    std::uint16_t next = 0)
    {
        std::uint8_t raw[16];
        std::memcpy(raw, &address, 8);
        std::memcpy(raw + 8, &length, 4);
        std::memcpy(raw + 12, &flags, 2);
        std::memcpy(raw + 14, &next, 2);
        memory.write(kDescriptors + 16ull * index, raw);
    }
    void u16(std::uint64_t address, std::uint16_t value) { memory.write(address, {reinterpret_cast<std::uint8_t*>(&value), 2}); }
    void offer(std::uint16_t head)
    {
        u16(kAvail + 4 + 2 * (avail_index % kSize), head);
        u16(kAvail + 2, ++avail_index);
    }
    QueueError pop_error()
    {
        PopResult result = queue.pop(memory);
        EXPECT_FALSE(result.chain.has_value());
        EXPECT_TRUE(result.error.has_value());
        return result.error.value_or(QueueError::SizeAboveMaximum);
    }

    GuestMemory memory{kMemoryBytes};
    Virtqueue queue{256};
    std::uint16_t avail_index = 0;
};

TEST_F(VirtqueueTest, EmptyRingPopsNothing)
{
    PopResult result = queue.pop(memory);
    EXPECT_FALSE(result.chain.has_value());
    EXPECT_FALSE(result.error.has_value());
}

TEST_F(VirtqueueTest, WalksAChainAndReturnsItThroughTheUsedRing)
{
    descriptor(3, 0x10000, 100, Virtqueue::kDescriptorFlagNext, 5);
    descriptor(5, 0x20000, 200, Virtqueue::kDescriptorFlagWrite);
    offer(3);
    PopResult result = queue.pop(memory);
    ASSERT_TRUE(result.chain.has_value());
    EXPECT_EQ(result.chain->head, 3);
    ASSERT_EQ(result.chain->descriptors.size(), 2u);
    EXPECT_EQ(result.chain->descriptors[1].address, 0x20000u);
    EXPECT_TRUE(result.chain->descriptors[1].device_writable);
    EXPECT_EQ(result.chain->readable_bytes, 100u);
    EXPECT_EQ(result.chain->writable_bytes, 200u);
    EXPECT_FALSE(queue.pop(memory).chain.has_value());

    ASSERT_TRUE(queue.add_used(memory, 3, 42));
    std::uint32_t element[2];
    std::memcpy(element, memory.range(kUsed + 4, 8).data(), 8);
    EXPECT_EQ(element[0], 3u);
    EXPECT_EQ(element[1], 42u);
    std::uint16_t used_index;
    std::memcpy(&used_index, memory.range(kUsed + 2, 2).data(), 2);
    EXPECT_EQ(used_index, 1);
}

TEST_F(VirtqueueTest, UndoPopOffersTheSameChainAgain)
{
    descriptor(0, 0x10000, 10, 0);
    offer(0);
    ASSERT_TRUE(queue.pop(memory).chain.has_value());
    queue.undo_pop();
    PopResult again = queue.pop(memory);
    ASSERT_TRUE(again.chain.has_value());
    EXPECT_EQ(again.chain->head, 0);
}

TEST_F(VirtqueueTest, GathersReadableBytesFromAnOffset)
{
    const char text[] = "hello, world";
    memory.write(0x10000, {reinterpret_cast<const std::uint8_t*>(text), 5});
    memory.write(0x20000, {reinterpret_cast<const std::uint8_t*>(text) + 5, 7});
    descriptor(0, 0x10000, 5, Virtqueue::kDescriptorFlagNext, 1);
    descriptor(1, 0x20000, 7, 0);
    offer(0);
    DescriptorChain chain = *queue.pop(memory).chain;
    std::uint8_t out[16] = {};
    ASSERT_EQ(Virtqueue::read_chain(memory, chain, 3, out), 9u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 9), "lo, world");
}

TEST_F(VirtqueueTest, DescriptorOutsideRamIsAnError)
{
    descriptor(0, kMemoryBytes - 4, 8, 0);
    offer(0);
    EXPECT_EQ(pop_error(), QueueError::DescriptorOutsideRam);
}

TEST_F(VirtqueueTest, DescriptorAddressThatWrapsIsAnError)
{
    descriptor(0, ~std::uint64_t(0) - 2, 16, 0);
    offer(0);
    EXPECT_EQ(pop_error(), QueueError::DescriptorOutsideRam);
}

TEST_F(VirtqueueTest, DescriptorLoopIsAnError)
{
    descriptor(0, 0x10000, 8, Virtqueue::kDescriptorFlagNext, 1);
    descriptor(1, 0x10000, 8, Virtqueue::kDescriptorFlagNext, 0);
    offer(0);
    EXPECT_EQ(pop_error(), QueueError::DescriptorLoop);
}

TEST_F(VirtqueueTest, SelfLoopIsAnError)
{
    descriptor(2, 0x10000, 8, Virtqueue::kDescriptorFlagNext, 2);
    offer(2);
    EXPECT_EQ(pop_error(), QueueError::DescriptorLoop);
}

TEST_F(VirtqueueTest, ChainLengthOverflowIsAnError)
{
    // Two descriptors that each cover most of RAM would only fit a 4 GiB count with a wrap.
    GuestMemory big(3ull << 30);
    Virtqueue q(256);
    q.set_size(kSize);
    q.set_descriptor_table(kDescriptors);
    q.set_avail_ring(kAvail);
    q.set_used_ring(kUsed);
    ASSERT_FALSE(q.make_ready(big).has_value());
    auto put = [&](std::uint16_t index, std::uint64_t address, std::uint32_t length, std::uint16_t flags, std::uint16_t next) {
        std::uint8_t raw[16];
        std::memcpy(raw, &address, 8);
        std::memcpy(raw + 8, &length, 4);
        std::memcpy(raw + 12, &flags, 2);
        std::memcpy(raw + 14, &next, 2);
        big.write(kDescriptors + 16ull * index, raw);
    };
    put(0, 0, 0xc0000000u, Virtqueue::kDescriptorFlagNext, 1);
    put(1, 0, 0xc0000000u, 0, 0);
    std::uint16_t head = 0, index = 1;
    big.write(kAvail + 4, {reinterpret_cast<std::uint8_t*>(&head), 2});
    big.write(kAvail + 2, {reinterpret_cast<std::uint8_t*>(&index), 2});
    PopResult result = q.pop(big);
    ASSERT_TRUE(result.error.has_value());
    EXPECT_EQ(*result.error, QueueError::ChainLengthOverflow);
}

TEST_F(VirtqueueTest, AvailIndexJumpingPastTheQueueSizeIsAnError)
{
    u16(kAvail + 2, kSize + 1);
    EXPECT_EQ(pop_error(), QueueError::AvailIndexJump);
}

TEST_F(VirtqueueTest, HeadAndNextIndexesAreCheckedAgainstTheQueueSize)
{
    offer(kSize);
    EXPECT_EQ(pop_error(), QueueError::DescriptorIndexOutOfRange);

    Virtqueue fresh(256);
    fresh.set_size(kSize);
    fresh.set_descriptor_table(kDescriptors);
    fresh.set_avail_ring(kAvail);
    fresh.set_used_ring(kUsed);
    ASSERT_FALSE(fresh.make_ready(memory).has_value());
    descriptor(0, 0x10000, 8, Virtqueue::kDescriptorFlagNext, 200);
    u16(kAvail + 4, 0);
    u16(kAvail + 2, 1);
    PopResult result = fresh.pop(memory);
    ASSERT_TRUE(result.error.has_value());
    EXPECT_EQ(*result.error, QueueError::DescriptorIndexOutOfRange);
}

TEST_F(VirtqueueTest, IndirectDescriptorsAreRefused)
{
    descriptor(0, 0x10000, 64, Virtqueue::kDescriptorFlagIndirect);
    offer(0);
    EXPECT_EQ(pop_error(), QueueError::IndirectNotNegotiated);
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsAnError)
{
    descriptor(0, 0x10000, 8, Virtqueue::kDescriptorFlagWrite | Virtqueue::kDescriptorFlagNext, 1);
    descriptor(1, 0x10000, 8, 0);
    offer(0);
    EXPECT_EQ(pop_error(), QueueError::ReadableAfterWritable);
}

TEST(VirtqueueSetup, RefusesBadSizesAndPlacements)
{
    GuestMemory memory(kMemoryBytes);
    auto ready = [&](std::uint16_t size, std::uint64_t descriptors, std::uint64_t avail, std::uint64_t used) {
        Virtqueue queue(256);
        queue.set_size(size);
        queue.set_descriptor_table(descriptors);
        queue.set_avail_ring(avail);
        queue.set_used_ring(used);
        return queue.make_ready(memory);
    };
    EXPECT_EQ(ready(6, kDescriptors, kAvail, kUsed), QueueError::SizeNotPowerOfTwo);
    EXPECT_EQ(ready(0, kDescriptors, kAvail, kUsed), QueueError::SizeAboveMaximum);
    EXPECT_EQ(ready(512, kDescriptors, kAvail, kUsed), QueueError::SizeAboveMaximum);
    EXPECT_EQ(ready(8, kMemoryBytes - 64, kAvail, kUsed), QueueError::RingOutsideRam);
    EXPECT_EQ(ready(8, kDescriptors, 0xfffffffffffffff0ull, kUsed), QueueError::RingOutsideRam);
    EXPECT_EQ(ready(8, kDescriptors, kAvail, kMemoryBytes), QueueError::RingOutsideRam);
    EXPECT_EQ(ready(8, kDescriptors + 8, kAvail, kUsed), QueueError::RingMisaligned);
    EXPECT_EQ(ready(8, kDescriptors, kAvail, kUsed + 2), QueueError::RingMisaligned);
    EXPECT_FALSE(ready(256, kDescriptors, kAvail, kUsed).has_value());
}

} // namespace
} // namespace delos::vmm::virtio
