// virtio_queue_fuzzer.cpp: fuzz-virtio-queue: hostile rings and register writes must never make the device touch host memory outside guest RAM.
//
// Input: byte 0 * 16 (at most kRamImageBytes) of the following bytes become the start of guest RAM (where the rings usually live);
// the rest is a sequence of 8-byte operations {op, a, b (u16), value (u32)}: MMIO register
// writes and reads, notifications, guest memory pokes, descriptor posts, a quick driver
// bring-up (so the fuzzer reaches DRIVER_OK often), and host-side socket events. Guest RAM is
// fenced by PROT_NONE pages on both sides, and ASan watches everything else.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <cstring>
#include <memory>

#include "vmm/guest_memory.h"
#include "vmm/virtio/console_device.h"
#include "vmm/virtio/mmio_transport.h"

using namespace delos::vmm;
using namespace delos::vmm::virtio;

namespace {

constexpr std::uint64_t kRamBytes = 64 * 1024;
constexpr std::size_t kRamImageBytes = 4096;
constexpr std::uint64_t kRingStride = 0x1000;  // queue q: descriptors at q*0x1000, avail +0x800, used +0xc00 (size 8..)

class NullInterrupt final : public InterruptLine {
public:
    void trigger() override { ++count; }
    std::uint64_t count = 0;
};

// Guest RAM with inaccessible pages right before and after it, when the address space allows.
GuestMemory& fenced_memory()
{
    static GuestMemory* memory = [] {
        auto* m = new GuestMemory(kRamBytes);
        long page = ::sysconf(_SC_PAGESIZE);
#ifdef MAP_FIXED_NOREPLACE
        ::mmap(m->host_base() + kRamBytes, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        ::mmap(m->host_base() - page, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
#endif
        (void)page;
        return m;
    }();
    return *memory;
}

void write32(MmioTransport& transport, std::uint64_t offset, std::uint32_t value)
{
    transport.mmio_write(offset, {reinterpret_cast<const std::uint8_t*>(&value), 4});
}

std::uint32_t read32(MmioTransport& transport, std::uint64_t offset)
{
    std::uint32_t value = 0;
    transport.mmio_read(offset, {reinterpret_cast<std::uint8_t*>(&value), 4});
    return value;
}

void bring_up(MmioTransport& transport, std::uint8_t size_shift)
{
    write32(transport, mmio::kStatus, 0);
    write32(transport, mmio::kStatus, kStatusAcknowledge | kStatusDriver);
    write32(transport, mmio::kDriverFeaturesSel, 0);
    write32(transport, mmio::kDriverFeatures, static_cast<std::uint32_t>(console::kFeatureMultiport));
    write32(transport, mmio::kDriverFeaturesSel, 1);
    write32(transport, mmio::kDriverFeatures, 1);
    write32(transport, mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    std::uint32_t size = 1u << (size_shift % 8);  // 1..128: rings fit the 4 KiB stride
    for (std::uint32_t queue = 0; queue < console::kQueueCount; ++queue) {
        std::uint64_t base = kRingStride * queue;
        write32(transport, mmio::kQueueSel, queue);
        write32(transport, mmio::kQueueNum, size);
        write32(transport, mmio::kQueueDescLow, static_cast<std::uint32_t>(base));
        write32(transport, mmio::kQueueDriverLow, static_cast<std::uint32_t>(base + 0x800));
        write32(transport, mmio::kQueueDeviceLow, static_cast<std::uint32_t>(base + 0xc00));
        write32(transport, mmio::kQueueReady, 1);
    }
    write32(transport, mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    GuestMemory& memory = fenced_memory();
    std::memset(memory.host_base(), 0, kRamBytes);
    if (size == 0)
        return 0;
    // The first byte says how much of the input is RAM image (in 16-byte units); the rest is operations.
    std::size_t image = std::min({size - 1, kRamImageBytes, std::size_t(data[0]) * 16});
    ++data;
    --size;
    // The image is repeated over each queue's ring area so one input shapes all six queues.
    for (std::uint64_t queue = 0; queue < console::kQueueCount && image > 0; ++queue)
        std::memcpy(memory.host_base() + kRingStride * queue, data, image);
    data += image;
    size -= image;

    NullInterrupt interrupt;
    ConsoleDevice console("org.delos.control.0");
    MmioTransport transport(console, memory, interrupt);
    std::uint8_t host_bytes[256];
    for (std::size_t i = 0; i < sizeof host_bytes; ++i)
        host_bytes[i] = static_cast<std::uint8_t>(i);

    for (; size >= 8; data += 8, size -= 8) {
        std::uint8_t op = data[0], a = data[1];
        std::uint16_t b;
        std::uint32_t value;
        std::memcpy(&b, data + 2, 2);
        std::memcpy(&value, data + 4, 4);
        switch (op % 12) {
        case 0: write32(transport, b & 0x1ff, value); break;
        case 1: {
            std::uint8_t out[8];
            transport.mmio_read(b & 0x1ff, {out, static_cast<std::size_t>(1u << (a % 4))});
            break;
        }
        case 2: {
            std::uint8_t in[8];
            std::memcpy(in, &value, 4);
            std::memcpy(in + 4, &b, 2);
            transport.mmio_write(b & 0x1ff, {in, static_cast<std::size_t>(1u << (a % 4))});
            break;
        }
        case 3: write32(transport, mmio::kQueueNotify, a % 8); break;
        case 4: std::memcpy(memory.host_base() + value % (kRamBytes - 1), &b, 1); break;
        case 5: std::memcpy(memory.host_base() + (value % (kRamBytes / 2)) * 2, &b, 2); break;
        case 6: bring_up(transport, a); break;
        case 7: {
            // Post descriptor (a % 16) of queue (b % 6) with address `value`, length from the image.
            std::uint64_t queue = b % console::kQueueCount;
            std::uint64_t descriptor = kRingStride * queue + 16ull * (a % 16);
            std::uint64_t address = value % (kRamBytes + 64);
            std::uint32_t length = static_cast<std::uint32_t>(b >> 3) * 8;
            std::uint16_t flags = static_cast<std::uint16_t>((a >> 4) & 7);
            std::memcpy(memory.host_base() + descriptor, &address, 8);
            std::memcpy(memory.host_base() + descriptor + 8, &length, 4);
            std::memcpy(memory.host_base() + descriptor + 12, &flags, 2);
            std::uint16_t avail_index;
            std::uint64_t avail = kRingStride * queue + 0x800;
            std::memcpy(&avail_index, memory.host_base() + avail + 2, 2);
            std::uint16_t head = a % 16;
            std::memcpy(memory.host_base() + avail + 4 + 2 * (avail_index % 8), &head, 2);
            ++avail_index;
            std::memcpy(memory.host_base() + avail + 2, &avail_index, 2);
            write32(transport, mmio::kQueueNotify, static_cast<std::uint32_t>(queue));
            break;
        }
        case 8: {
            std::lock_guard guard(transport.lock());
            if (a & 1)
                console.host_connected();
            else
                console.host_disconnected();
            break;
        }
        case 9: {
            std::lock_guard guard(transport.lock());
            console.accept_from_host({host_bytes, static_cast<std::size_t>(a)});
            break;
        }
        case 10: {
            std::lock_guard guard(transport.lock());
            std::uint8_t out[512];
            std::size_t n = console.peek_for_host(out);
            console.consume_for_host(std::min<std::size_t>(n, value));
            break;
        }
        case 11:
            transport.notify_queue(value);  // the ioeventfd path
            break;
        }
        // Invariant: once NEEDS_RESET is set, only a Status write of 0 clears it.
        if (transport.device_needs_reset() && transport.failure_reason().empty())
            __builtin_trap();
        (void)read32(transport, mmio::kStatus);
    }
    return 0;
}
