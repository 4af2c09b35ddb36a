// mmio_devices.cpp: one pass over the virtio_mmio.device options: probe, start, route the IRQ.
#include "drivers/virtio/mmio_devices.h"

#include "arch/x86_64/interrupts.h"
#include "apic/io_apic.h"
#include "apic/local_apic.h"
#include "log/kernel_log.h"
#include "drivers/virtio/mmio_transport.h"
#include "platform/boot_facts.h"
#include "lib/command_line.h"

namespace delos::virtio {

namespace {

constexpr std::size_t kMaxDevices = 4;

struct AttachedConsole {
    MmioTransport transport;
    ConsoleDriver driver;
};

// A slot whose driver failed to start is never reused (its driver keeps the failed state);
// g_live lists the started ones.
AttachedConsole g_consoles[kMaxDevices];
std::size_t g_slots_used = 0;
AttachedConsole* g_live[kMaxDevices] = {};
std::size_t g_console_count = 0;
bool g_started = false;
std::size_t g_started_result = 0;

// Device interrupts arrive on vector_for_pin(irq); a pin may be shared, so every console on it looks.
void on_device_interrupt(arch::InterruptFrame& frame)
{
    std::uint64_t pin = frame.vector - io_apic::kFirstPinVector;
    for (std::size_t i = 0; i < g_console_count; ++i) {
        if (g_live[i]->transport.location().irq == pin)
            g_live[i]->driver.on_interrupt();
    }
    local_apic::end_of_interrupt();
}

} // namespace

ErrorOr<std::size_t> start_mmio_devices()
{
    if (g_started)
        return g_started_result;
    g_started = true;
    MmioDeviceLocation locations[kMaxDevices];
    std::size_t found = find_mmio_devices(CommandLine(platform::boot_info().command_line), locations, kMaxDevices);
    if (found == 0)
        return std::size_t{0};
    TRY(io_apic::initialize());
    for (std::size_t i = 0; i < found; ++i) {
        const MmioDeviceLocation& location = locations[i];
        bool duplicate = false;
        for (std::size_t j = 0; j < g_slots_used; ++j)
            duplicate |= g_consoles[j].transport.location().base == location.base;
        if (duplicate) {
            kprint("virtio-mmio: device at {:#x} is announced twice; using the first\n", location.base);
            continue;  // a second driver would reset the device under the first
        }
        AttachedConsole& slot = g_consoles[g_slots_used];
        if (auto attached = slot.transport.attach(location); attached.is_error()) {
            kprint("virtio-mmio: device at {:#x}: {}\n", location.base, attached.error().message);
            continue;
        }
        if (slot.transport.device_id() != kConsoleDeviceId) {
            kprint("virtio-mmio: device at {:#x} has type {}, for which there is no driver\n", location.base,
                   slot.transport.device_id());
            continue;
        }
        ++g_slots_used;
        // Listed as live first so an interrupt during start() reaches the driver.
        g_live[g_console_count++] = &slot;
        auto pin = static_cast<std::uint8_t>(location.irq);
        arch::set_interrupt_handler(io_apic::vector_for_pin(pin), on_device_interrupt);
        // delos-vmm pulses the line (irqfd / KVM_IRQ_LINE 1 then 0): edge-triggered, active high.
        auto routed = io_apic::route_pin(pin, io_apic::Trigger::Edge, io_apic::Polarity::ActiveHigh);
        auto started = routed.is_error() ? ErrorOr<void>(routed.error()) : slot.driver.start(slot.transport);
        if (started.is_error()) {
            kprint("virtio-console at {:#x} irq {}: {}\n", location.base, location.irq, started.error().message);
            --g_console_count;
            bool pin_shared = false;
            for (std::size_t j = 0; j < g_console_count; ++j)
                pin_shared |= g_live[j]->transport.location().irq == location.irq;
            if (!pin_shared)
                io_apic::mask_pin(pin);
            continue;
        }
        kprint("virtio-console at {:#x} irq {}: started\n", location.base, location.irq);
    }
    g_started_result = g_console_count;
    return g_console_count;
}

std::size_t console_count() { return g_console_count; }
ConsoleDriver& console(std::size_t index) { return g_live[index]->driver; }

} // namespace delos::virtio
