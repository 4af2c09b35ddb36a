// device_discovery.cpp: the boot-time pass that registers the built-in drivers and asks every bus
// for its devices. A new bus (PCI) adds its discovery call here.
#include <atomic>

#include "drivers/device_registry.h"
#include "drivers/virtio/console_devices.h"
#include "drivers/virtio/mmio_devices.h"
#include "drivers/virtio/pci_devices.h"
#include "log/kernel_log.h"

namespace delos::devices {

std::size_t discover_devices()
{
    // Called by the boot task before it starts the control agent, and by ControlPort::open
    // (which the agent and control-echo run after that): never by two tasks at once.
    static std::atomic<bool> discovered{false};
    if (!discovered.exchange(true)) {
        if (auto registered = virtio::register_console_driver(); registered.is_error())
            kprint("device registry: console driver not registered: {}\n", registered.error().message);
        // PCI only where no virtio-mmio device is announced (delos-vmm: no port I/O exits for nothing).
        if (virtio::discover_mmio_devices() == 0)
            virtio::discover_pci_devices();
    }
    std::size_t bound = 0;
    for (std::size_t i = 0; i < virtio_device_count(); ++i)
        bound += virtio_device(i).bound ? 1 : 0;
    return bound;
}

} // namespace delos::devices
