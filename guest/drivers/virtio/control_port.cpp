// control_port.cpp: finding the control port among the started consoles.
#include "drivers/virtio/control_port.h"

#include "arch/x86_64/tsc.h"
#include "drivers/virtio/mmio_devices.h"
#include "drivers/virtio/pci_devices.h"

namespace delos::virtio {

namespace {

// The started consoles: virtio-mmio ones first, then virtio-pci ones. PCI is probed only when no
// virtio-mmio console started (delos-vmm announces its console on the command line; probing
// PCI there would cost port I/O exits for nothing).
std::size_t g_mmio_consoles = 0;

ConsoleDriver& console_at(std::size_t index)
{
    return index < g_mmio_consoles ? console(index) : pci_console(index - g_mmio_consoles);
}

} // namespace

ErrorOr<ControlPort> ControlPort::open(StringView name, std::uint64_t timeout_ns)
{
    g_mmio_consoles = TRY(start_mmio_devices());
    std::size_t consoles = g_mmio_consoles;
    if (consoles == 0) {
        discover_pci_devices();
        consoles = pci_console_count();
    }
    if (consoles == 0)
        return Error::make(ErrorCode::NotFound, "control port: no virtio-console device was announced or found on PCI");
    std::uint64_t deadline = tsc::nanoseconds_since_boot() + timeout_ns;
    // DEVICE_ADD, PORT_READY and PORT_NAME take a few round trips after DEVICE_READY.
    for (;;) {
        bool any_alive = false;
        for (std::size_t i = 0; i < consoles; ++i) {
            ConsoleDriver& candidate = console_at(i);
            auto port = candidate.find_port(name);
            if (!port.is_error()) {
                TRY(candidate.open_port(port.value()));
                return ControlPort(candidate, port.value());
            }
            any_alive |= !candidate.broken();
        }
        if (!any_alive)
            return Error::make(ErrorCode::Io, "control port: every virtio-console device failed");
        if (tsc::nanoseconds_since_boot() >= deadline)
            return Error::make(ErrorCode::Timeout, "control port: no console announced the port in time");
        console_at(0).wait_for_activity();
    }
}

} // namespace delos::virtio
