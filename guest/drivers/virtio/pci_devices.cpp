// pci_devices.cpp: one pass over the enumerated PCI functions: virtio consoles get a transport,
// mapped registers, an interrupt (MSI-X or INTx) and a started ConsoleDriver.
#include "drivers/virtio/pci_devices.h"

#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/io_apic.h"
#include "arch/x86_64/local_apic.h"
#include "debug/kernel_log.h"
#include "drivers/pci/pci_platform.h"
#include "drivers/virtio/pci_transport.h"
#include "kernel/kernel.h"
#include "lib/command_line.h"

namespace delos::virtio {

namespace {

constexpr std::size_t kMaxDevices = 4;
// MSI-X vectors: two per device slot (configuration change, queues), above the IOAPIC's range.
constexpr std::uint8_t kFirstMsixVector = 0xa0;
constexpr std::uint32_t kMsiAddressBase = 0xfee00000u;

struct AttachedConsole {
    PciTransport transport;
    ConsoleDriver driver;
    bool intx = false;
    std::uint32_t gsi = 0;
};

AttachedConsole g_consoles[kMaxDevices];
std::size_t g_slots_used = 0;
AttachedConsole* g_live[kMaxDevices] = {};
std::size_t g_console_count = 0;
bool g_started = false;
std::size_t g_started_result = 0;

void on_msix_interrupt(arch::InterruptFrame& frame)
{
    std::uint64_t offset = frame.vector - kFirstMsixVector;
    std::size_t slot = static_cast<std::size_t>(offset / 2);
    if (slot < g_slots_used) {
        g_consoles[slot].transport.note_msix_interrupt(offset % 2 == 0 ? kInterruptConfigChange : kInterruptUsedBuffer);
        g_consoles[slot].driver.on_interrupt();
    }
    local_apic::end_of_interrupt();
}

// Level-triggered and possibly shared: every console on the line reads its ISR, which lowers
// the device's line before the EOI lets the IOAPIC look at it again.
void on_intx_interrupt(arch::InterruptFrame& frame)
{
    std::uint64_t pin = frame.vector - io_apic::kFirstPinVector;
    for (std::size_t i = 0; i < g_console_count; ++i) {
        if (g_live[i]->intx && g_live[i]->gsi == pin)
            g_live[i]->driver.on_interrupt();
    }
    local_apic::end_of_interrupt();
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

// MSI-X when present and wanted, else INTx through the IOAPIC. Returns a description for the log.
ErrorOr<const char*> wire_interrupts(pci::Platform& platform, std::size_t index, AttachedConsole& slot, std::size_t slot_number,
                                     bool force_intx)
{
    PciTransport& transport = slot.transport;
    if (!force_intx && transport.layout().msix.present) {
        auto config_vector = static_cast<std::uint8_t>(kFirstMsixVector + 2 * slot_number);
        arch::set_interrupt_handler(config_vector, on_msix_interrupt);
        arch::set_interrupt_handler(static_cast<std::uint8_t>(config_vector + 1), on_msix_interrupt);
        // Fixed delivery, physical destination: this CPU's local APIC.
        std::uint32_t address = kMsiAddressBase | (local_apic::id() << 12);
        auto used = transport.use_msix(address, config_vector, config_vector + 1u);
        if (!used.is_error())
            return "MSI-X";
        kprint("virtio-pci: MSI-X refused ({}); trying INTx\n", used.error().message);
    }
    const pci::Function& function = platform.functions[index];
    pci::RootInterrupt root = pci::root_interrupt(platform.functions, platform.count, index);
    pci::IntxRoute route = TRY(pci::route_intx(platform.chipset, root, function.interrupt_line));
    TRY(io_apic::initialize());
    if (route.gsi >= io_apic::pin_count())
        return Error::make(ErrorCode::OutOfRange, "virtio-pci: INTx GSI beyond the IOAPIC's pins", route.gsi);
    auto pin = static_cast<std::uint8_t>(route.gsi);
    slot.intx = true;
    slot.gsi = route.gsi;
    arch::set_interrupt_handler(io_apic::vector_for_pin(pin), on_intx_interrupt);
    transport.use_intx();
    TRY(io_apic::route_pin(pin, route.level_triggered ? io_apic::Trigger::Level : io_apic::Trigger::Edge,
                           route.active_low ? io_apic::Polarity::ActiveLow : io_apic::Polarity::ActiveHigh));
    return "INTx";
}

} // namespace

ErrorOr<std::size_t> start_pci_devices()
{
    if (g_started)
        return g_started_result;
    g_started = true;
    auto found = pci::platform();
    if (found.is_error())
        return std::size_t{0};
    pci::Platform& platform = *found.value();
    CommandLine command_line(kernel::boot_info().command_line);
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
        if (type != kConsoleDeviceId) {
            kprint("virtio-pci: {:x}:{:x}.{} has type {}, for which there is no driver\n", a.bus, a.device, a.function, type);
            continue;
        }
        if (g_slots_used == kMaxDevices) {
            kprint("virtio-pci: {:x}:{:x}.{}: more than {} consoles; ignored\n", a.bus, a.device, a.function, kMaxDevices);
            continue;
        }
        std::size_t slot_number = g_slots_used;
        AttachedConsole& slot = g_consoles[slot_number];
        pci::Bar bars[pci::kMaxBars];
        auto attached = pci::read_and_assign_bars(platform, index, bars, reassign);
        if (!attached.is_error())
            attached = slot.transport.attach(*platform.config, pci::device_memory(), function, bars);
        if (!attached.is_error())
            attached = map_regions(slot.transport);
        if (attached.is_error()) {
            kprint("virtio-pci: {:x}:{:x}.{}: {}\n", a.bus, a.device, a.function, attached.error().message);
            continue;
        }
        ++g_slots_used;  // a slot that got this far is never reused (its vectors point at it)
        auto wired = wire_interrupts(platform, index, slot, slot_number, force_intx);
        if (wired.is_error()) {
            kprint("virtio-pci: {:x}:{:x}.{}: no interrupt: {}\n", a.bus, a.device, a.function, wired.error().message);
            continue;
        }
        // Listed as live first so an interrupt during start() reaches the driver.
        g_live[g_console_count++] = &slot;
        const char* kind = function.device_id >= pci::kVirtioModernBaseId ? "modern" : "transitional";
        if (auto started = slot.driver.start(slot.transport); started.is_error()) {
            --g_console_count;
            if (slot.intx) {
                bool shared = false;
                for (std::size_t j = 0; j < g_console_count; ++j)
                    shared |= g_live[j]->intx && g_live[j]->gsi == slot.gsi;
                if (!shared)
                    io_apic::mask_pin(static_cast<std::uint8_t>(slot.gsi));
            }
            kprint("virtio-console on PCI {:x}:{:x}.{}: {}\n", a.bus, a.device, a.function, started.error().message);
            continue;
        }
        if (slot.intx)
            kprint("virtio-console on PCI {:x}:{:x}.{} ({:x}:{:x} {}): started, INTx GSI {}\n", a.bus, a.device, a.function,
                   function.vendor_id, function.device_id, kind, slot.gsi);
        else
            kprint("virtio-console on PCI {:x}:{:x}.{} ({:x}:{:x} {}): started, {}\n", a.bus, a.device, a.function,
                   function.vendor_id, function.device_id, kind, wired.value());
    }
    g_started_result = g_console_count;
    return g_console_count;
}

std::size_t pci_console_count() { return g_console_count; }
ConsoleDriver& pci_console(std::size_t index) { return g_live[index]->driver; }

} // namespace delos::virtio
