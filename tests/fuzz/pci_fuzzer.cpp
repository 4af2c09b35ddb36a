// pci_fuzzer.cpp: fuzz-pci: arbitrary bytes as PCI configuration space, device memory and ACPI
// tables; the guest's parsers must end, stay in bounds and never trust what they read.
//
// Input: byte 0 picks how many 256-byte functions follow (1..16). Function i sits at bus i / 4,
// device i % 4 (bridges in the input lead wherever they say). A write of all ones to a BAR reads
// back the dword at 0xc0 + 4 * bar of the same function (a hostile size mask); other writes are
// stored. The rest of the input is device memory for the virtio-pci transport (all BARs alias
// it) and, from its start, firmware memory for the ACPI parser (RSDP at offset 8) and an MCFG.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "drivers/virtio/pci_transport.h"
#include "lib/acpi/mcfg.h"
#include "lib/acpi/tables.h"
#include "lib/pci/bars.h"
#include "lib/pci/capabilities.h"
#include "lib/pci/enumeration.h"
#include "lib/pci/intx_routing.h"
#include "lib/pci/virtio_layout.h"

using namespace delos;

namespace {

constexpr std::size_t kFunctionBytes = 256;

class FuzzConfigSpace final : public pci::ConfigSpace {
public:
    std::vector<std::uint8_t> bytes;  // kFunctionBytes per function
    std::size_t functions = 0;
    bool sizing[64][6] = {};

    std::uint16_t extent() const override { return 256; }
    std::uint8_t* function(pci::Address a)
    {
        if (a.device >= 4 || a.function != 0)
            return nullptr;
        std::size_t index = std::size_t(a.bus) * 4 + a.device;
        return index < functions ? bytes.data() + index * kFunctionBytes : nullptr;
    }
    std::uint32_t read32(pci::Address a, std::uint16_t offset) override
    {
        std::uint8_t* f = function(a);
        if (!f || offset >= 256 || (offset & 3))
            return 0xffffffffu;
        std::uint16_t source = offset;
        if (offset >= 0x10 && offset < 0x28 && sizing[std::size_t(a.bus) * 4 + a.device][(offset - 0x10) / 4])
            source = static_cast<std::uint16_t>(0xc0 + (offset - 0x10));
        std::uint32_t v;
        std::memcpy(&v, f + source, 4);
        return v;
    }
    void write32(pci::Address a, std::uint16_t offset, std::uint32_t value) override
    {
        std::uint8_t* f = function(a);
        if (!f || offset >= 256 || (offset & 3))
            return;
        if (offset >= 0x10 && offset < 0x28) {
            sizing[std::size_t(a.bus) * 4 + a.device][(offset - 0x10) / 4] = value == 0xffffffffu;
            if (value == 0xffffffffu)
                return;
        }
        std::memcpy(f + offset, &value, 4);
    }
    void write16(pci::Address a, std::uint16_t offset, std::uint16_t value) override
    {
        std::uint8_t* f = function(a);
        if (!f || offset >= 256 || (offset & 1))
            return;
        std::memcpy(f + offset, &value, 2);
    }
};

// Device memory: every address reads the input at (address % size); writes are dropped, so a
// status register that never resets is among the cases.
class FuzzMemory final : public pci::MemoryAccess {
public:
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    std::uint64_t load(std::uint64_t address, int width)
    {
        std::uint64_t v = 0;
        for (int i = 0; i < width; ++i)
            v |= std::uint64_t(data[(address + i) % size]) << (8 * i);
        return v;
    }
    std::uint8_t read8(std::uint64_t a) override { return static_cast<std::uint8_t>(load(a, 1)); }
    std::uint16_t read16(std::uint64_t a) override { return static_cast<std::uint16_t>(load(a, 2)); }
    std::uint32_t read32(std::uint64_t a) override { return static_cast<std::uint32_t>(load(a, 4)); }
    void write8(std::uint64_t, std::uint8_t) override {}
    void write16(std::uint64_t, std::uint16_t) override {}
    void write32(std::uint64_t, std::uint32_t) override {}
};

class FuzzFirmware final : public acpi::PhysicalMemoryReader {
public:
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    bool read(std::uint64_t address, void* out, std::size_t length) override
    {
        if (address > size || length > size - address)
            return false;
        std::memcpy(out, data + address, length);
        return true;
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    FuzzConfigSpace config;
    config.functions = 1 + data[0] % 16;
    std::size_t config_bytes = config.functions * kFunctionBytes;
    config.bytes.assign(config_bytes, 0xff);
    std::size_t available = size - 1 < config_bytes ? size - 1 : config_bytes;
    std::memcpy(config.bytes.data(), data + 1, available);
    const std::uint8_t* rest = data + 1 + available;
    std::size_t rest_size = size - 1 - available;

    pci::Function functions[32];
    pci::EnumerationResult found = pci::enumerate(config, functions, 32, {0, 3});
    FuzzMemory memory;
    memory.data = rest;
    memory.size = rest_size;
    for (std::size_t i = 0; i < found.count; ++i) {
        const pci::Function& f = functions[i];
        pci::RootInterrupt root = pci::root_interrupt(functions, found.count, i);
        for (pci::Chipset chipset : {pci::Chipset::Piix, pci::Chipset::Ich9, pci::Chipset::Unknown})
            (void)pci::route_intx(chipset, root, f.interrupt_line);
        pci::CapabilityList capabilities;
        if (pci::read_capabilities(config, f.address, capabilities).is_error())
            continue;
        pci::Bar bars[pci::kMaxBars];
        if (pci::read_bars(config, f.address, f.is_bridge() ? 2 : 6, bars).is_error())
            continue;
        (void)pci::read_virtio_layout(config, f.address, capabilities, bars);
        if (rest_size == 0)
            continue;
        virtio::PciTransport transport;
        if (transport.attach(config, memory, f, bars).is_error())
            continue;
        (void)transport.use_msix(0xfee00000, 0xa0, 0xa1);
        if (!transport.negotiate_features(2, 0).is_error()) {
            for (std::uint16_t q = 0; q < 4; ++q)
                (void)transport.queue_max_size(q);
            (void)transport.set_driver_ok();
        }
        (void)transport.read_config32(4);
        (void)transport.take_interrupt_causes();
        transport.notify(0);
    }

    FuzzFirmware firmware;
    firmware.data = rest;
    firmware.size = rest_size;
    auto root = acpi::read_root_table(firmware, 8);  // the RSDP at offset 8 of the rest
    if (!root.is_error())
        (void)acpi::find_table(firmware, root.value(), "MCFG");
    acpi::EcamRegion regions[4];
    (void)acpi::parse_mcfg(ByteView(rest, rest_size), regions, 4);
    return 0;
}
