// pci_config_test.cpp: the guest's PCI parsing against hostile configuration space: capability
// lists that loop or point into the header, BAR masks that are no size, bridges that lead back,
// virtio capabilities outside their BARs; plus BAR assignment and the chipsets' INTx routing.
#include <gtest/gtest.h>

#include "fake_pci.h"
#include "lib/pci/bars.h"
#include "lib/pci/capabilities.h"
#include "lib/pci/enumeration.h"
#include "lib/pci/intx_routing.h"
#include "lib/pci/virtio_layout.h"

using namespace delos;
using namespace delos::pci;
using delos::test::FakeConfigSpace;
using delos::test::FakeFunction;
using namespace delos::test;

namespace {

constexpr Address kDev{0, 3, 0};

} // namespace

TEST(PciCapabilities, WalksTheListInOrder)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    auto offsets = f.capabilities({{0x05, {0, 0}}, {0x11, {0, 0, 0, 0}}, {0x09, {4, 0}}});
    CapabilityList list;
    ASSERT_FALSE(read_capabilities(config, kDev, list).is_error());
    ASSERT_EQ(list.count, 3u);
    EXPECT_EQ(list.entries[0].id, 0x05);
    EXPECT_EQ(list.entries[1].offset, offsets[1]);
    ASSERT_NE(list.find(0x09), nullptr);
    EXPECT_EQ(list.find(0x09)->offset, offsets[2]);
    EXPECT_EQ(list.find(0x10), nullptr);
}

TEST(PciCapabilities, NoStatusBitMeansNoList)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.capabilities({{0x05, {0, 0}}});
    f.set16(0x06, 0);  // the pointer is there, but the status register says there is no list
    CapabilityList list;
    ASSERT_FALSE(read_capabilities(config, kDev, list).is_error());
    EXPECT_EQ(list.count, 0u);
}

TEST(PciCapabilities, RefusesLoopsAndPointersIntoTheHeader)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.capabilities({{0x05, {0, 0}}, {0x09, {0, 0}}});
    f.set8(0x45, 0x40);  // the second points back at the first
    CapabilityList list;
    auto looped = read_capabilities(config, kDev, list);
    ASSERT_TRUE(looped.is_error());
    EXPECT_STREQ(looped.error().message, "pci: capability list loops");

    f.set8(0x45, 0x3c);  // into the standard header
    auto into_header = read_capabilities(config, kDev, list);
    ASSERT_TRUE(into_header.is_error());
    EXPECT_STREQ(into_header.error().message, "pci: capability pointer into the standard header");

    f.set8(0x41, 0x43);  // reserved low bits are masked: 0x43 -> 0x40 is the first again
    EXPECT_TRUE(read_capabilities(config, kDev, list).is_error());
}

TEST(PciCapabilities, SelfLoopAtTheLastSlotEnds)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.set16(0x06, 0x10);
    f.set8(0x34, 0xfc);
    f.set8(0xfc, 0x09);
    f.set8(0xfd, 0xff);  // next = 0xfc after masking
    CapabilityList list;
    EXPECT_TRUE(read_capabilities(config, kDev, list).is_error());
}

TEST(PciBars, SizesMemoryIoAnd64BitBarsAndRestoresEverything)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.io_bar(0, 0xc040, 0x20);
    f.memory_bar(1, 0xfebf0000, 0x1000);
    f.memory_bar(4, 0x800000000ull, 0x4000, true, true);
    f.set16(0x04, kCommandIoSpace | kCommandMemorySpace);
    std::uint32_t before[6];
    for (int i = 0; i < 6; ++i)
        before[i] = f.get32(static_cast<std::uint16_t>(0x10 + 4 * i));

    Bar bars[kMaxBars];
    ASSERT_FALSE(read_bars(config, kDev, 6, bars).is_error());
    EXPECT_EQ(bars[0].kind, BarKind::Io);
    EXPECT_EQ(bars[0].address, 0xc040u);
    EXPECT_EQ(bars[0].size, 0x20u);
    EXPECT_EQ(bars[1].kind, BarKind::Memory32);
    EXPECT_EQ(bars[1].address, 0xfebf0000u);
    EXPECT_EQ(bars[1].size, 0x1000u);
    EXPECT_EQ(bars[2].kind, BarKind::Unused);
    EXPECT_EQ(bars[4].kind, BarKind::Memory64);
    EXPECT_TRUE(bars[4].prefetchable);
    EXPECT_EQ(bars[4].address, 0x800000000ull);
    EXPECT_EQ(bars[4].size, 0x4000u);
    EXPECT_EQ(bars[5].kind, BarKind::Unused);  // the upper half
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(f.get32(static_cast<std::uint16_t>(0x10 + 4 * i)), before[i]) << "BAR" << i;
    // Decoding was off while sizing, and is back on.
    ASSERT_EQ(config.writes16.size(), 2u);
    EXPECT_EQ(config.writes16[0].second, 0);
    EXPECT_EQ(config.writes16[1].second, kCommandIoSpace | kCommandMemorySpace);
}

TEST(PciBars, RefusesMasksThatAreNoSize)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.memory_bar(0, 0, 0x1000);
    f.bar_writable[0] = 0xfff0f000u;  // a hole in the mask
    Bar bars[kMaxBars];
    auto result = read_bars(config, kDev, 6, bars);
    ASSERT_TRUE(result.is_error());
    EXPECT_STREQ(result.error().message, "pci: memory BAR size is not a power of two");
    EXPECT_EQ(f.get32(0x04) & 0xffff, 0u);  // command register restored even on failure
}

TEST(PciBars, Refuses64BitBarInTheLastSlotAndMisalignedAddresses)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.set32(0x24, 0x4);  // 64-bit type in BAR5
    Bar bars[kMaxBars];
    auto last = read_bars(config, kDev, 6, bars);
    ASSERT_TRUE(last.is_error());
    EXPECT_STREQ(last.error().message, "pci: 64-bit BAR in the last slot");

    FakeFunction& g = config.add(Address{0, 4, 0}, 0x1234, 0x5678);
    g.memory_bar(0, 0, 0x4000);
    g.lie = [](std::uint16_t offset) -> std::optional<std::uint32_t> {
        if (offset == 0x10)
            return 0xfebf1000u;  // claims an address its own size cannot hold
        return std::nullopt;
    };
    auto misaligned = read_bars(config, Address{0, 4, 0}, 6, bars);
    EXPECT_TRUE(misaligned.is_error());

    FakeFunction& h = config.add(Address{0, 5, 0}, 0x1234, 0x5678);
    h.set32(0x10, 0x2);  // "below 1 MiB" memory type
    EXPECT_TRUE(read_bars(config, Address{0, 5, 0}, 6, bars).is_error());
}

TEST(PciBars, AssignsAndChecksTheReadBack)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1234, 0x5678);
    f.memory_bar(4, 0, 0x4000, true);
    Bar bars[kMaxBars];
    ASSERT_FALSE(read_bars(config, kDev, 6, bars).is_error());
    ASSERT_EQ(bars[4].address, 0u);
    ASSERT_FALSE(assign_bar(config, kDev, 4, bars[4], 0x1'c000'4000ull).is_error());
    EXPECT_EQ(bars[4].address, 0x1'c000'4000ull);
    Bar again[kMaxBars];
    ASSERT_FALSE(read_bars(config, kDev, 6, again).is_error());
    EXPECT_EQ(again[4].address, 0x1'c000'4000ull);

    EXPECT_TRUE(assign_bar(config, kDev, 4, bars[4], 0xc0001000).is_error());  // misaligned
    f.bar_writable[4] = 0;  // a BAR that ignores writes
    auto ignored = assign_bar(config, kDev, 4, bars[4], 0xc0008000);
    ASSERT_TRUE(ignored.is_error());
    EXPECT_STREQ(ignored.error().message, "pci: the BAR did not take its address");
}

TEST(PciAddressAllocator, PlacesAlignedAroundReservedRanges)
{
    AddressAllocator allocator(0xc0000000, 0xc0100000);
    ASSERT_FALSE(allocator.reserve(0xc0000000, 0x1800).is_error());
    auto first = allocator.allocate(0x1000);
    ASSERT_FALSE(first.is_error());
    EXPECT_EQ(first.value(), 0xc0002000u);
    auto second = allocator.allocate(0x4000);
    ASSERT_FALSE(second.is_error());
    EXPECT_EQ(second.value(), 0xc0004000u);
    EXPECT_EQ(allocator.allocate(0x1000).value(), 0xc0003000u);
    EXPECT_TRUE(allocator.allocate(0x200000).is_error());  // larger than the window
    EXPECT_TRUE(allocator.allocate(0x3000).is_error());    // not a power of two
}

TEST(PciAddressAllocator, ReservationsAtTheTopOfMemoryDoNotWrap)
{
    AddressAllocator allocator(0xffffffffffff0000ull, ~0ull);
    ASSERT_FALSE(allocator.reserve(0xffffffffffff0000ull, 0x20000).is_error());  // wraps: clamped
    EXPECT_TRUE(allocator.allocate(0x1000).is_error());
}

TEST(PciEnumeration, FindsFunctionsMultifunctionAndBridges)
{
    FakeConfigSpace config;
    config.add({0, 0, 0}, 0x8086, 0x29c0, 0, 0x06);
    config.add({0, 1, 0}, 0x1af4, 0x1003, 0x80);  // multifunction
    config.add({0, 1, 2}, 0x1af4, 0x1001);
    config.add({0, 2, 1}, 0x1af4, 0x1001);  // function 1 without function 0: not scanned
    config.bridge({0, 3, 0}, 1);
    config.add({1, 0, 0}, 0x1af4, 0x1043).set8(0x3d, 1);
    config.bridge({1, 1, 0}, 2);
    config.add({2, 5, 0}, 0x1af4, 0x1043).set8(0x3d, 2);
    Function functions[16];
    EnumerationResult result = enumerate(config, functions, 16);
    ASSERT_EQ(result.count, 7u);
    EXPECT_EQ(result.bad_bridges, 0u);
    EXPECT_EQ(functions[2].address, (Address{0, 1, 2}));
    EXPECT_EQ(functions[3].address, (Address{0, 3, 0}));
    EXPECT_TRUE(functions[3].is_bridge());
    EXPECT_EQ(functions[4].address, (Address{1, 0, 0}));
    EXPECT_EQ(functions[4].parent, 3u);
    EXPECT_EQ(functions[6].address, (Address{2, 5, 0}));
    EXPECT_EQ(functions[6].parent, 5u);

    // INTA of 1:0.0 behind the bridge at slot 3: (0 + 0) % 4 -> INTA at root slot 3.
    RootInterrupt a = root_interrupt(functions, result.count, 4);
    EXPECT_EQ(a.pin, 1);
    EXPECT_EQ(a.root_device, 3);
    // INTB of 2:5.0: swizzled by device 5 on bus 2 -> INTC, then by device 1 on bus 1 -> INTD.
    RootInterrupt b = root_interrupt(functions, result.count, 6);
    EXPECT_EQ(b.pin, 4);
    EXPECT_EQ(b.root_device, 3);
    EXPECT_EQ(root_interrupt(functions, result.count, 0).pin, 0);  // no pin
}

TEST(PciEnumeration, BridgesThatLeadBackOrOutOfRangeAreSkipped)
{
    FakeConfigSpace config;
    config.bridge({0, 1, 0}, 0);  // to its own bus
    config.bridge({0, 2, 0}, 1);
    config.bridge({1, 0, 0}, 1);  // to itself
    config.bridge({1, 1, 0}, 0);  // back to the root
    config.bridge({0, 3, 0}, 1);  // a second path to bus 1
    config.bridge({0, 4, 0}, 9);  // beyond the allowed buses
    Function functions[16];
    EnumerationResult result = enumerate(config, functions, 16, {0, 8});
    EXPECT_EQ(result.count, 6u);
    EXPECT_EQ(result.bad_bridges, 5u);
}

TEST(PciEnumeration, EveryBusHasBridgesEverywhereStillEnds)
{
    // Every device on every bus is a bridge to the next bus: 256 buses x 32 devices.
    FakeConfigSpace config;
    for (int bus = 0; bus < 256; ++bus)
        for (int device = 0; device < 32; ++device)
            config.bridge({static_cast<std::uint8_t>(bus), static_cast<std::uint8_t>(device), 0},
                          static_cast<std::uint8_t>(bus == 255 ? 255 : bus + 1));
    static Function functions[256 * 32];
    EnumerationResult all = enumerate(config, functions, 256 * 32);
    EXPECT_EQ(all.count, 256u * 32u);
    EXPECT_EQ(all.dropped, 0u);
    // Every bus once: one bridge per bus leads on, the other 31 (and bus 255's 32) are refused.
    EXPECT_EQ(all.bad_bridges, 255u * 31u + 32u);
    // A bridge that did not fit in the output is not followed (it could not be a parent):
    // buses 0 and 1 fill the 64 slots, bus 2 is scanned and dropped, nothing further.
    EnumerationResult some = enumerate(config, functions, 64);
    EXPECT_EQ(some.count, 64u);
    EXPECT_EQ(some.dropped, 32u);
}

TEST(PciEnumeration, AbsentOrZeroVendorIsNoFunction)
{
    FakeConfigSpace config;
    config.add({0, 0, 0}, 0x0000, 0x0000);
    Function functions[4];
    EXPECT_EQ(enumerate(config, functions, 4).count, 0u);
}

TEST(PciIntxRouting, PiixUsesTheFirmwaresInterruptLine)
{
    auto route = route_intx(Chipset::Piix, {1, 2}, 10);
    ASSERT_FALSE(route.is_error());
    EXPECT_EQ(route.value().gsi, 10u);
    EXPECT_TRUE(route.value().level_triggered);
    EXPECT_FALSE(route.value().active_low);
    EXPECT_TRUE(route_intx(Chipset::Piix, {1, 2}, 0xff).is_error());  // not routed
    EXPECT_TRUE(route_intx(Chipset::Piix, {1, 2}, 2).is_error());     // the cascade
    EXPECT_TRUE(route_intx(Chipset::Piix, {0, 2}, 10).is_error());    // no pin
    EXPECT_TRUE(route_intx(Chipset::Piix, {5, 2}, 10).is_error());    // no such pin
}

TEST(PciIntxRouting, Ich9RoutesBySlotAndPinToGsi16To23)
{
    EXPECT_EQ(route_intx(Chipset::Ich9, {1, 2}, 10).value().gsi, 22u);  // (2 + 0) % 4 + 4 = PIRQG
    EXPECT_EQ(route_intx(Chipset::Ich9, {1, 1}, 10).value().gsi, 21u);
    EXPECT_EQ(route_intx(Chipset::Ich9, {4, 1}, 10).value().gsi, 20u);  // (1 + 3) % 4 + 4 = PIRQE
    EXPECT_EQ(route_intx(Chipset::Ich9, {1, 31}, 10).value().gsi, 16u);  // D31IR reset value: INTA -> PIRQA
    EXPECT_EQ(route_intx(Chipset::Ich9, {2, 30}, 10).value().gsi, 21u);  // D30: INTB -> PIRQF
    EXPECT_TRUE(route_intx(Chipset::Ich9, {1, 32}, 10).is_error());
    EXPECT_EQ(identify_chipset(0x8086, 0x29c0), Chipset::Ich9);
    EXPECT_EQ(identify_chipset(0x8086, 0x1237), Chipset::Piix);
    EXPECT_EQ(identify_chipset(0x1b36, 0x0008), Chipset::Unknown);
}

TEST(VirtioPciLayout, ReadsQemusLayout)
{
    FakeConfigSpace config;
    qemu_like_virtio(config, kDev);
    Bar bars[kMaxBars];
    ASSERT_FALSE(read_bars(config, kDev, 6, bars).is_error());
    CapabilityList caps;
    ASSERT_FALSE(read_capabilities(config, kDev, caps).is_error());
    auto layout = read_virtio_layout(config, kDev, caps, bars);
    ASSERT_FALSE(layout.is_error()) << layout.error().message;
    EXPECT_EQ(layout.value().common.bar, 4);
    EXPECT_EQ(layout.value().isr.offset, 0x1000u);
    EXPECT_EQ(layout.value().device.offset, 0x2000u);
    EXPECT_EQ(layout.value().notify.offset, 0x3000u);
    EXPECT_EQ(layout.value().notify_multiplier, 4u);
    ASSERT_TRUE(layout.value().msix.present);
    EXPECT_EQ(layout.value().msix.table_size, 2);
    EXPECT_EQ(layout.value().msix.table.bar, 1);
}

TEST(VirtioPciLayout, SkipsCapabilitiesOutsideTheirBarAndTakesTheFirstUsable)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1af4, 0x1043);
    f.memory_bar(1, 0xfebff000, 0x1000);
    f.io_bar(2, 0xc000, 0x40);
    f.memory_bar(4, 0xfebf8000, 0x4000, true);
    f.capabilities({{0x09, virtio_cap(1, 4, 0x3f00, 0x200)},     // runs past the BAR's end
                    {0x09, virtio_cap(1, 2, 0x0, 0x38)},         // in an I/O BAR
                    {0x09, virtio_cap(1, 7, 0x0, 0x38)},         // no such BAR
                    {0x09, virtio_cap(1, 4, 0xffffffff, 0x38)},  // offset + length overflows
                    {0x09, virtio_cap(1, 4, 0x0, 0x20)},         // shorter than the common config
                    {0x09, virtio_cap(1, 4, 0x100, 0x100)},      // the usable one
                    {0x09, virtio_cap(1, 4, 0x800, 0x100)},      // later ones are ignored
                    {0x09, virtio_cap(3, 4, 0x1000, 1)},
                    {0x09, virtio_cap(2, 4, 0x3000, 0x1000)},    // notify without its multiplier field
                    {0x09, notify_cap(4, 0x3000, 0x1000, 0)},
                    {0x11, msix_cap(256, 1, 0x800)}});           // 256 * 16 bytes run past BAR1's 4 KiB
    Bar bars[kMaxBars];
    ASSERT_FALSE(read_bars(config, kDev, 6, bars).is_error());
    CapabilityList caps;
    ASSERT_FALSE(read_capabilities(config, kDev, caps).is_error());
    auto layout = read_virtio_layout(config, kDev, caps, bars);
    ASSERT_FALSE(layout.is_error()) << layout.error().message;
    EXPECT_EQ(layout.value().common.offset, 0x100u);
    EXPECT_EQ(layout.value().notify_multiplier, 0u);
    EXPECT_FALSE(layout.value().device.present);
    EXPECT_FALSE(layout.value().msix.present);
}

TEST(VirtioPciLayout, MissingStructuresAreReported)
{
    FakeConfigSpace config;
    FakeFunction& f = config.add(kDev, 0x1af4, 0x1043);
    f.memory_bar(4, 0xfebf8000, 0x4000, true);
    f.capabilities({{0x09, virtio_cap(1, 4, 0, 0x38)}, {0x09, virtio_cap(3, 4, 0x1000, 1)}});
    Bar bars[kMaxBars];
    ASSERT_FALSE(read_bars(config, kDev, 6, bars).is_error());
    CapabilityList caps;
    ASSERT_FALSE(read_capabilities(config, kDev, caps).is_error());
    auto layout = read_virtio_layout(config, kDev, caps, bars);
    ASSERT_TRUE(layout.is_error());
    EXPECT_STREQ(layout.error().message, "virtio-pci: no usable notify capability");
}

TEST(VirtioPciLayout, DeviceTypesOfTransitionalAndModernIds)
{
    EXPECT_EQ(virtio_device_type(0x1af4, 0x1003, 3), 3u);
    EXPECT_EQ(virtio_device_type(0x1af4, 0x1043, 0x1100), 3u);
    EXPECT_EQ(virtio_device_type(0x1af4, 0x1041, 0), 1u);
    EXPECT_EQ(virtio_device_type(0x1af4, 0x1100, 3), 0u);  // ivshmem etc.: not virtio
    EXPECT_EQ(virtio_device_type(0x8086, 0x1003, 3), 0u);
}
