// mmio_devices.cpp: one pass over the virtio_mmio.device options: attach, register, wire the IRQ.
#include "drivers/virtio/mmio_devices.h"

#include "arch/x86_64/interrupts.h"
#include "apic/io_apic.h"
#include "apic/local_apic.h"
#include "log/kernel_log.h"
#include "drivers/device_registry.h"
#include "drivers/virtio/mmio_transport.h"
#include "platform/boot_facts.h"
#include "lib/core/command_line.h"

namespace delos::virtio {

namespace {

constexpr std::size_t kMaxDevices = 8;  // QEMU microvm has 8 virtio-mmio slots

// A device's IOAPIC pin. Pins may be shared: the pin's vector runs every connected handler on it.
class MmioInterruptLine final : public devices::InterruptLine {
public:
    void set_pin(std::uint8_t pin) { m_pin = pin; }
    std::uint8_t pin() const { return m_pin; }
    void run() const
    {
        if (m_handler)
            m_handler(m_context);
    }
    ErrorOr<void> connect(Handler handler, void* context) override;
    void disconnect() override;

private:
    std::uint8_t m_pin = 0;
    Handler m_handler = nullptr;
    void* m_context = nullptr;
};

struct MmioDevice {
    MmioTransport transport;
    MmioInterruptLine line;
};

// A slot is never reused: the registry keeps pointers to it for good.
MmioDevice g_devices[kMaxDevices];
std::size_t g_device_count = 0;

void on_pin_interrupt(arch::InterruptFrame& frame)
{
    std::uint64_t pin = frame.vector - io_apic::kFirstPinVector;
    for (std::size_t i = 0; i < g_device_count; ++i) {
        if (g_devices[i].line.pin() == pin)
            g_devices[i].line.run();
    }
    local_apic::end_of_interrupt();
}

ErrorOr<void> MmioInterruptLine::connect(Handler handler, void* context)
{
    m_context = context;
    __atomic_store_n(&m_handler, handler, __ATOMIC_RELEASE);
    arch::set_interrupt_handler(io_apic::vector_for_pin(m_pin), on_pin_interrupt);
    // delos-vmm pulses the line (irqfd / KVM_IRQ_LINE 1 then 0); QEMU holds it while
    // InterruptStatus is non-zero, and the handler acknowledges every cause it reads, so an
    // edge-triggered pin sees each new cause as a new edge either way.
    auto routed = io_apic::route_pin(m_pin, io_apic::Trigger::Edge, io_apic::Polarity::ActiveHigh);
    if (routed.is_error())
        disconnect();
    return routed;
}

void MmioInterruptLine::disconnect()
{
    __atomic_store_n(&m_handler, nullptr, __ATOMIC_RELEASE);
    for (std::size_t i = 0; i < g_device_count; ++i) {
        if (&g_devices[i].line != this && g_devices[i].line.pin() == m_pin && g_devices[i].line.m_handler)
            return;  // shared with a live device
    }
    io_apic::mask_pin(m_pin);
}

} // namespace

std::size_t discover_mmio_devices()
{
    MmioDeviceLocation locations[kMaxDevices];
    std::size_t found = find_mmio_devices(CommandLine(platform::boot_info().command_line), locations, kMaxDevices);
    if (found == 0)
        return 0;
    if (auto initialized = io_apic::initialize(); initialized.is_error()) {
        kprint("virtio-mmio: no IOAPIC, so no device interrupts: {}\n", initialized.error().message);
        return 0;
    }
    std::size_t added = 0;
    for (std::size_t i = 0; i < found; ++i) {
        const MmioDeviceLocation& location = locations[i];
        if (location.irq >= io_apic::pin_count()) {
            kprint("virtio-mmio: device at {:#x}: irq {} is beyond the IOAPIC's {} pins\n", location.base,
                   location.irq, io_apic::pin_count());
            continue;
        }
        MmioDevice& slot = g_devices[g_device_count];
        if (auto attached = slot.transport.attach(location); attached.is_error()) {
            kprint("virtio-mmio: device at {:#x}: {}\n", location.base, attached.error().message);
            continue;
        }
        slot.line.set_pin(static_cast<std::uint8_t>(location.irq));
        ++g_device_count;  // listed before it can be bound, so its pin's interrupts reach it
        auto registered = devices::add_virtio_device(slot.transport, slot.line,
                                                     {devices::Bus::VirtioMmio, location.base, location.irq});
        if (registered.is_error()) {
            kprint("virtio-mmio: device at {:#x}: {}\n", location.base, registered.error().message);
            continue;  // e.g. announced twice: the slot stays, unconnected
        }
        ++added;
    }
    return added;
}

} // namespace delos::virtio
