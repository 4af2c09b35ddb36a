// pci_devices.cpp: one pass over the enumerated PCI functions: virtio ones get a transport,
// mapped registers and an interrupt line (MSI-X or INTx), then are added for a driver to bind.
#include "drivers/virtio/pci_devices.h"

#include <atomic>

#include "arch/x86_64/interrupts.h"
#include "apic/io_apic.h"
#include "apic/local_apic.h"
#include "log/kernel_log.h"
#include "drivers/device_registry.h"
#include "drivers/pci/pci_platform.h"
#include "drivers/virtio/pci_transport.h"
#include "platform/boot_facts.h"
#include "lib/core/command_line.h"

namespace delos::virtio {

namespace {

constexpr std::size_t kMaxDevices = 8;  // libvirt adds a balloon, rng, ... beside the console
// MSI-X vectors: two per device slot (configuration change, queues), above the IOAPIC's range.
constexpr std::uint8_t kFirstMsixVector = 0xa0;
constexpr std::uint32_t kMsiAddressBase = 0xfee00000u;

// A device's interrupt: its MSI-X vectors, or its INTx GSI (level-triggered, maybe shared: every
// device on the GSI reads its ISR, which lowers its line before the EOI). Keeps the contract of
// devices::InterruptLine: connect before the device starts; the handler runs in interrupt
// context; end of interrupt is the line's business.
class PciInterruptLine final : public devices::InterruptLine {
public:

    void use_msix(std::uint8_t first_vector) { m_msix = true, m_vector = first_vector; }
    void use_intx(std::uint32_t gsi) { m_msix = false, m_gsi = gsi; }
    bool msix() const { return m_msix; }
    std::uint32_t gsi() const { return m_gsi; }
    std::uint8_t vector() const { return m_vector; }
    void run() const
    {
        if (Handler handler = __atomic_load_n(&m_handler, __ATOMIC_ACQUIRE))
            handler(m_context);
    }

    ErrorOr<void> connect(Handler handler, void* context) override;
    void disconnect() override;

private:
    bool m_msix = false;
    std::uint8_t m_vector = 0;
    std::uint32_t m_gsi = 0;
    Handler m_handler = nullptr;
    void* m_context = nullptr;
};

struct PciDevice {
    PciTransport transport;
    PciInterruptLine line;
};

// A slot is never reused: its vectors and (with the registry) the registry point at it.
PciDevice g_devices[kMaxDevices];
std::size_t g_device_count = 0;

void on_msix_interrupt(arch::InterruptFrame& frame)
{
    std::uint64_t offset = frame.vector - kFirstMsixVector;
    std::size_t slot = static_cast<std::size_t>(offset / 2);
    if (slot < g_device_count) {
        g_devices[slot].transport.note_msix_interrupt(offset % 2 == 0 ? kInterruptConfigChange : kInterruptUsedBuffer);
        g_devices[slot].line.run();
    }
    local_apic::end_of_interrupt();
}

void on_intx_interrupt(arch::InterruptFrame& frame)
{
    std::uint64_t pin = frame.vector - io_apic::kFirstPinVector;
    for (std::size_t i = 0; i < g_device_count; ++i) {
        if (!g_devices[i].line.msix() && g_devices[i].line.gsi() == pin)
            g_devices[i].line.run();
    }
    local_apic::end_of_interrupt();
}

ErrorOr<void> PciInterruptLine::connect(Handler handler, void* context)
{
    m_context = context;
    __atomic_store_n(&m_handler, handler, __ATOMIC_RELEASE);
    if (m_msix) {
        arch::set_interrupt_handler(m_vector, on_msix_interrupt);
        arch::set_interrupt_handler(static_cast<std::uint8_t>(m_vector + 1), on_msix_interrupt);
        return {};
    }
    auto pin = static_cast<std::uint8_t>(m_gsi);
    arch::set_interrupt_handler(io_apic::vector_for_pin(pin), on_intx_interrupt);
    // QEMU's ACPI tables declare PCI interrupts level-triggered, active high, on both chipsets.
    auto routed = io_apic::route_pin(pin, io_apic::Trigger::Level, io_apic::Polarity::ActiveHigh);
    if (routed.is_error())
        disconnect();
    return routed;
}

void PciInterruptLine::disconnect()
{
    __atomic_store_n(&m_handler, nullptr, __ATOMIC_RELEASE);
    if (m_msix)
        return;  // the vectors stay ours; with no handler they only acknowledge
    for (std::size_t i = 0; i < g_device_count; ++i) {
        const PciInterruptLine& other = g_devices[i].line;
        if (&other != this && !other.m_msix && other.m_gsi == m_gsi && other.m_handler)
            return;  // shared with a live device
    }
    io_apic::mask_pin(static_cast<std::uint8_t>(m_gsi));
}

ErrorOr<void> map_regions(PciTransport& transport)
{
    const pci::VirtioPciLayout& layout = transport.layout();
    for (const pci::Region* region : {&layout.common, &layout.notify, &layout.isr, &layout.device, &layout.msix.table}) {
        if (region->present)
            TRY(pci::map_device_memory(transport.region_address(*region), region->length));
    }
    return {};
}

// MSI-X when present and wanted, else INTx through the IOAPIC.
ErrorOr<void> choose_interrupt(pci::Platform& platform, std::size_t index, PciDevice& device, std::size_t slot,
                               bool force_intx)
{
    if (!force_intx && device.transport.layout().msix.present) {
        auto first_vector = static_cast<std::uint8_t>(kFirstMsixVector + 2 * slot);
        // Fixed delivery, physical destination: this CPU's local APIC.
        std::uint32_t address = kMsiAddressBase | (local_apic::id() << 12);
        auto used = device.transport.use_msix(address, first_vector, first_vector + 1u);
        if (!used.is_error()) {
            device.line.use_msix(first_vector);
            return {};
        }
        kprint("virtio-pci: MSI-X refused ({}); trying INTx\n", used.error().message);
    }
    const pci::Function& function = platform.functions[index];
    pci::RootInterrupt root = pci::root_interrupt(platform.functions, platform.count, index);
    pci::IntxRoute route = TRY(pci::route_intx(platform.chipset, root, function.interrupt_line));
    TRY(io_apic::initialize());
    if (route.gsi >= io_apic::pin_count())
        return Error::make(ErrorCode::OutOfRange, "virtio-pci: INTx GSI beyond the IOAPIC's pins", route.gsi);
    device.transport.use_intx();
    device.line.use_intx(route.gsi);
    return {};
}

void add_pci_virtio_device(PciTransport& transport, PciInterruptLine& line, const pci::Address& a)
{
    auto added = devices::add_virtio_device(transport, line, {devices::Bus::Pci, std::uint64_t(a.bus) << 8 | a.device << 3 | a.function, 0});
    if (added.is_error())
        kprint("virtio-pci: {:x}:{:x}.{}: {}\n", a.bus, a.device, a.function, added.error().message);
}
// ---- End of the join point.

} // namespace

std::size_t discover_pci_devices()
{
    static std::atomic<bool> discovered{false};
    static std::size_t added = 0;
    if (discovered.exchange(true))
        return added;
    auto found = pci::platform();
    if (found.is_error())
        return 0;
    pci::Platform& platform = *found.value();
    CommandLine command_line(platform::boot_info().command_line);
    StringView option;
    bool force_intx = command_line.option("virtio_pci.interrupts", option) && option == "intx";
    bool reassign = command_line.option("virtio_pci.reassign_bars", option) && option == "1";

    for (std::size_t index = 0; index < platform.count; ++index) {
        const pci::Function& function = platform.functions[index];
        std::uint16_t subsystem = platform.config->read16(function.address, pci::reg::kSubsystemId);
        std::uint32_t type = pci::virtio_device_type(function.vendor_id, function.device_id, subsystem);
        if (type == 0)
            continue;
        const pci::Address& a = function.address;
        if (g_device_count == kMaxDevices) {
            kprint("virtio-pci: {:x}:{:x}.{}: more than {} devices; ignored\n", a.bus, a.device, a.function, kMaxDevices);
            continue;
        }
        std::size_t slot = g_device_count;
        PciDevice& device = g_devices[slot];
        pci::Bar bars[pci::kMaxBars];
        auto attached = pci::read_and_assign_bars(platform, index, bars, reassign);
        if (!attached.is_error())
            attached = device.transport.attach(*platform.config, pci::device_memory(), function, bars);
        if (!attached.is_error())
            attached = map_regions(device.transport);
        if (!attached.is_error())
            attached = choose_interrupt(platform, index, device, slot, force_intx);
        if (attached.is_error()) {
            kprint("virtio-pci: {:x}:{:x}.{}: {}\n", a.bus, a.device, a.function, attached.error().message);
            continue;
        }
        ++g_device_count;  // listed before it can be bound, so its interrupts reach it
        const char* kind = function.device_id >= pci::kVirtioModernBaseId ? "modern" : "transitional";
        if (device.line.msix())
            kprint("virtio-pci: {:x}:{:x}.{} ({:x}:{:x} {}, type {}): MSI-X\n", a.bus, a.device, a.function,
                   function.vendor_id, function.device_id, kind, type);
        else
            kprint("virtio-pci: {:x}:{:x}.{} ({:x}:{:x} {}, type {}): INTx GSI {}\n", a.bus, a.device, a.function,
                   function.vendor_id, function.device_id, kind, type, device.line.gsi());
        add_pci_virtio_device(device.transport, device.line, a);
        ++added;
    }
    return added;
}

} // namespace delos::virtio
