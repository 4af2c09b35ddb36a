// pci_platform.cpp: CF8/CFC and ECAM configuration access, choosing between them, enumeration and BAR assignment.
#include "drivers/pci/pci_platform.h"

#include "abi/platform.h"
#include "arch/x86_64/cpu.h"
#include "log/kernel_log.h"
#include "platform/boot_facts.h"
#include "lib/acpi/tables.h"
#include "lib/core/command_line.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"
#include "sync/spin_lock.h"

namespace delos::pci {

namespace {

constexpr std::uint16_t kConfigAddressPort = 0xcf8;
constexpr std::uint16_t kConfigDataPort = 0xcfc;
constexpr std::uint32_t kConfigEnable = 0x80000000u;

// Configuration mechanism #1 (PCI 3.0 §3.2.2.3.2): 256 bytes per function through two ports.
class PortConfigSpace final : public ConfigSpace {
public:
    std::uint16_t extent() const override { return 256; }
    std::uint32_t read32(Address address, std::uint16_t offset) override
    {
        if (offset >= 256 || (offset & 3))
            return 0xffffffffu;
        SpinLockGuard guard(m_lock);
        cpu::out32(kConfigAddressPort, select(address, offset));
        return cpu::in32(kConfigDataPort);
    }
    void write32(Address address, std::uint16_t offset, std::uint32_t value) override
    {
        if (offset >= 256 || (offset & 3))
            return;
        SpinLockGuard guard(m_lock);
        cpu::out32(kConfigAddressPort, select(address, offset));
        cpu::out32(kConfigDataPort, value);
    }
    void write16(Address address, std::uint16_t offset, std::uint16_t value) override
    {
        if (offset >= 256 || (offset & 1))
            return;
        SpinLockGuard guard(m_lock);
        cpu::out32(kConfigAddressPort, select(address, offset));
        cpu::out16(static_cast<std::uint16_t>(kConfigDataPort + (offset & 2)), value);
    }

private:
    static std::uint32_t select(Address address, std::uint16_t offset)
    {
        return kConfigEnable | std::uint32_t(address.bus) << 16 | std::uint32_t(address.device & 31) << 11 |
               std::uint32_t(address.function & 7) << 8 | (offset & 0xfc);
    }
    SpinLock m_lock;  // the address/data pair is two steps
};

// ECAM (PCIe 5.0 §7.2.2): 4 KiB per function, memory-mapped; each bus's 1 MiB is mapped uncached
// the first time it is touched.
class EcamConfigSpace final : public ConfigSpace {
public:
    void set_region(const acpi::EcamRegion& region) { m_region = region; }
    std::uint16_t extent() const override { return 4096; }
    std::uint32_t read32(Address address, std::uint16_t offset) override
    {
        std::uint64_t at = locate(address, offset, 4);
        return at ? *reinterpret_cast<volatile std::uint32_t*>(at) : 0xffffffffu;
    }
    void write32(Address address, std::uint16_t offset, std::uint32_t value) override
    {
        if (std::uint64_t at = locate(address, offset, 4))
            *reinterpret_cast<volatile std::uint32_t*>(at) = value;
    }
    void write16(Address address, std::uint16_t offset, std::uint16_t value) override
    {
        if (std::uint64_t at = locate(address, offset, 2))
            *reinterpret_cast<volatile std::uint16_t*>(at) = value;
    }

private:
    std::uint64_t locate(Address address, std::uint16_t offset, std::uint16_t width)
    {
        if (offset >= 4096 || (offset & (width - 1)) || address.bus < m_region.start_bus ||
            address.bus > m_region.end_bus || address.device >= kDevicesPerBus ||
            address.function >= kFunctionsPerDevice)
            return 0;
        std::uint64_t bus_base = m_region.base + (std::uint64_t(address.bus) << 20);
        if (!m_bus_mapped[address.bus]) {
            SpinLockGuard guard(m_lock);
            if (!m_bus_mapped[address.bus]) {
                if (memory::kernel_page_table().map_device(bus_base, 1u << 20).is_error())
                    return 0;
                m_bus_mapped[address.bus] = true;
            }
        }
        return bus_base + (std::uint64_t(address.device) << 15) + (std::uint64_t(address.function) << 12) + offset;
    }
    acpi::EcamRegion m_region{};
    bool m_bus_mapped[256] = {};
    SpinLock m_lock;
};

class LinearDeviceMemory final : public MemoryAccess {
public:
    std::uint8_t read8(std::uint64_t a) override { return *reinterpret_cast<volatile std::uint8_t*>(a); }
    std::uint16_t read16(std::uint64_t a) override { return *reinterpret_cast<volatile std::uint16_t*>(a); }
    std::uint32_t read32(std::uint64_t a) override { return *reinterpret_cast<volatile std::uint32_t*>(a); }
    void write8(std::uint64_t a, std::uint8_t v) override { *reinterpret_cast<volatile std::uint8_t*>(a) = v; }
    void write16(std::uint64_t a, std::uint16_t v) override { *reinterpret_cast<volatile std::uint16_t*>(a) = v; }
    void write32(std::uint64_t a, std::uint32_t v) override { *reinterpret_cast<volatile std::uint32_t*>(a) = v; }
};

// Firmware tables read through the linear map; pages outside it (reserved memory above the
// highest RAM region) are mapped on demand. Page 0 and addresses beyond 1 TiB are refused.
class FirmwareMemory final : public acpi::PhysicalMemoryReader {
public:
    bool read(std::uint64_t address, void* out, std::size_t length) override
    {
        if (address < memory::kPageSize || address + length < address || address + length > (1ull << 40))
            return false;
        auto& tables = memory::kernel_page_table();
        for (std::uint64_t page = address & ~(memory::kPageSize - 1); page < address + length; page += memory::kPageSize) {
            if (tables.access_of(page) == memory::Access::None && tables.map_device(page, memory::kPageSize).is_error())
                return false;
        }
        __builtin_memcpy(out, reinterpret_cast<const void*>(address), length);
        return true;
    }
};

PortConfigSpace g_port_config;
EcamConfigSpace g_ecam_config;
LinearDeviceMemory g_device_memory;
Platform g_platform;
bool g_probed = false;
Error g_probe_error{};

// Mechanism #1 is present when the address register holds what is written to it (as Linux's
// pci_check_type1 tests); delos-vmm's unclaimed ports read all ones.
bool port_mechanism_present()
{
    SpinLock probe_lock;
    SpinLockGuard guard(probe_lock);
    std::uint32_t saved = cpu::in32(kConfigAddressPort);
    cpu::out32(kConfigAddressPort, kConfigEnable);
    bool present = cpu::in32(kConfigAddressPort) == kConfigEnable;
    cpu::out32(kConfigAddressPort, saved);
    return present;
}

ErrorOr<acpi::EcamRegion> find_ecam(std::uint64_t rsdp_address)
{
    FirmwareMemory firmware;
    acpi::RootTable root = TRY(acpi::read_root_table(firmware, rsdp_address));
    acpi::TableLocation mcfg = TRY(acpi::find_table(firmware, root, "MCFG"));
    static std::uint8_t table[4096];
    if (mcfg.length > sizeof table)
        return Error::make(ErrorCode::Unsupported, "pci: MCFG larger than 4 KiB", mcfg.length);
    if (!firmware.read(mcfg.address, table, mcfg.length))
        return Error::make(ErrorCode::OutOfRange, "pci: MCFG not readable");
    acpi::EcamRegion regions[8];
    std::size_t count = TRY(acpi::parse_mcfg(ByteView(table, mcfg.length), regions, 8));
    for (std::size_t i = 0; i < count; ++i) {
        if (regions[i].segment == 0)
            return regions[i];
    }
    return Error::make(ErrorCode::NotFound, "pci: MCFG names no window for segment 0");
}

ErrorOr<void> probe()
{
    CommandLine command_line(platform::boot_info().command_line);
    StringView choice;
    command_line.option("pci", choice);
    if (choice == "off")
        return Error::make(ErrorCode::NotFound, "pci: disabled on the command line (pci=off)");
    std::uint64_t rsdp = platform::boot_info().rsdp_address;
    if (rsdp != 0 && choice != "ports") {
        auto ecam = find_ecam(rsdp);
        if (!ecam.is_error()) {
            g_platform.ecam = ecam.value();
            g_platform.has_ecam = true;
        } else if (ecam.error().code != ErrorCode::NotFound) {
            kprint("pci: ignoring the ACPI tables: {}\n", ecam.error().message);
        }
    }
    EnumerationLimits limits;
    if (g_platform.has_ecam) {
        g_ecam_config.set_region(g_platform.ecam);
        g_platform.config = &g_ecam_config;
        g_platform.mechanism = "ECAM";
        limits.first_bus = g_platform.ecam.start_bus;
        limits.last_bus = g_platform.ecam.end_bus;
    } else if (port_mechanism_present()) {
        g_platform.config = &g_port_config;
        g_platform.mechanism = "port I/O (CF8/CFC)";
    } else {
        return Error::make(ErrorCode::NotFound, "pci: no configuration mechanism (no MCFG, no CF8/CFC)");
    }
    ConfigSpace& config = *g_platform.config;
    Address host_bridge{limits.first_bus, 0, 0};
    g_platform.chipset = identify_chipset(config.read16(host_bridge, reg::kVendorId), config.read16(host_bridge, reg::kDeviceId));
    EnumerationResult found = enumerate(config, g_platform.functions, kMaxFunctions, limits);
    g_platform.count = found.count;
    if (g_platform.has_ecam)
        kprint("pci: {} functions through ECAM at {:#x} (buses {}-{}), chipset {}\n", found.count, g_platform.ecam.base,
               g_platform.ecam.start_bus, g_platform.ecam.end_bus, chipset_name(g_platform.chipset));
    else
        kprint("pci: {} functions through {}, chipset {}\n", found.count, g_platform.mechanism, chipset_name(g_platform.chipset));
    if (found.dropped)
        kprint("pci: {} functions beyond the first {} ignored\n", found.dropped, kMaxFunctions);
    if (found.bad_bridges)
        kprint("pci: {} bridges with an impossible secondary bus skipped\n", found.bad_bridges);
    return {};
}

} // namespace

ErrorOr<Platform*> platform()
{
    if (!g_probed) {
        g_probed = true;
        if (auto probed = probe(); probed.is_error())
            g_probe_error = probed.error();
    }
    if (g_platform.config == nullptr)
        return g_probe_error;
    return &g_platform;
}

MemoryAccess& device_memory() { return g_device_memory; }

ErrorOr<void> map_device_memory(std::uint64_t address, std::uint64_t length)
{
    if (address < abi::kMmioWindowBase && address < platform::boot_info().ram_end())
        return Error::make(ErrorCode::PermissionDenied, "pci: device memory overlaps RAM", address);
    return memory::kernel_page_table().map_device(address, length);
}

ErrorOr<void> read_and_assign_bars(Platform& platform, std::size_t index, Bar* bars, bool forget_firmware_addresses)
{
    ConfigSpace& config = *platform.config;
    const Function& function = platform.functions[index];
    std::size_t bar_count = function.is_bridge() ? 2 : kMaxBars;
    TRY(read_bars(config, function.address, bar_count, bars));
    if (forget_firmware_addresses) {
        for (std::size_t i = 0; i < bar_count; ++i) {
            if (bars[i].is_memory() && bars[i].address != 0) {
                kprint("pci: {:x}:{:x}.{}: BAR{} at {:#x} forgotten (virtio_pci.reassign_bars)\n", function.address.bus,
                       function.address.device, function.address.function, i, bars[i].address);
                TRY(assign_bar(config, function.address, i, bars[i], 0));
            }
        }
    }
    bool missing = false;
    for (std::size_t i = 0; i < bar_count; ++i)
        missing |= bars[i].is_memory() && bars[i].address == 0;
    if (!missing)
        return {};

    // The window: the parent bridge's memory window, or on the root bus the 32-bit hole.
    std::uint64_t window_start = abi::kMmioWindowBase, window_end = abi::kIoApicBase;
    if (function.parent != kNoParent) {
        const Address bridge = platform.functions[function.parent].address;
        std::uint64_t base = std::uint64_t(config.read16(bridge, reg::kMemoryBase) & 0xfff0) << 16;
        std::uint64_t limit = (std::uint64_t(config.read16(bridge, reg::kMemoryLimit) & 0xfff0) << 16) | 0xfffff;
        if (limit < base)
            return Error::make(ErrorCode::Unsupported, "pci: unassigned BAR behind a bridge without a memory window");
        window_start = base;
        window_end = limit + 1;
    }
    AddressAllocator allocator(window_start, window_end);
    if (platform.has_ecam)
        TRY(allocator.reserve(platform.ecam.first_byte(), platform.ecam.bytes()));
    // Every address in use: other functions' BARs and bridge windows. Their BARs are sized again
    // (decode is off only for the moment of sizing each one).
    for (std::size_t other = 0; other < platform.count; ++other) {
        if (other == index)
            continue;
        const Function& f = platform.functions[other];
        Bar their[kMaxBars];
        if (read_bars(config, f.address, f.is_bridge() ? 2 : kMaxBars, their).is_error())
            continue;
        for (const Bar& bar : their) {
            if (bar.is_memory() && bar.address != 0)
                TRY(allocator.reserve(bar.address, bar.size));
        }
        if (f.is_bridge() && function.parent != other) {
            std::uint64_t base = std::uint64_t(config.read16(f.address, reg::kMemoryBase) & 0xfff0) << 16;
            std::uint64_t limit = (std::uint64_t(config.read16(f.address, reg::kMemoryLimit) & 0xfff0) << 16) | 0xfffff;
            if (limit >= base)
                TRY(allocator.reserve(base, limit + 1 - base));
        }
    }
    for (std::size_t i = 0; i < bar_count; ++i) {
        if (!bars[i].is_memory() || bars[i].address != 0)
            continue;
        std::uint64_t size = bars[i].size < memory::kPageSize ? memory::kPageSize : bars[i].size;
        std::uint64_t base = TRY(allocator.allocate(size));
        TRY(assign_bar(config, function.address, i, bars[i], base));
        kprint("pci: {:x}:{:x}.{}: BAR{} assigned {:#x} ({} bytes)\n", function.address.bus, function.address.device,
               function.address.function, i, base, bars[i].size);
    }
    return {};
}

} // namespace delos::pci
