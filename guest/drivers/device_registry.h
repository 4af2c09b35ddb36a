// device_registry.h: the devices the buses found and the drivers bound to them. A bus (virtio-mmio
// from the command line, virtio-pci) adds each virtio device it finds with add_virtio_device();
// drivers register for a virtio device type and are bound to every device of that type,
// whichever bus found it. Drivers see only virtio::Transport and InterruptLine.
#pragma once

#include <cstddef>
#include <cstdint>

#include "drivers/virtio/transport.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "sync/spin_lock.h"

namespace delos::devices {

// How a device's interrupts reach its driver. The bus that found the device implements it:
// virtio-mmio routes an IOAPIC pin; virtio-pci an MSI-X vector, or its INTx pin (the driver's
// handler reads the ISR through Transport::take_interrupt_causes, which acknowledges it).
class InterruptLine {
public:
    using Handler = void (*)(void* context);

    // From now on, calls handler(context) in interrupt context for each interrupt the device
    // raises (end of interrupt is the line's business, not the handler's). One handler per device;
    // connect before starting the device so no interrupt of the start is lost.
    virtual ErrorOr<void> connect(Handler handler, void* context) = 0;
    // Stops calling the handler (and masks the source where nothing else shares it).
    virtual void disconnect() = 0;

protected:
    ~InterruptLine() = default;
};

enum class Bus : std::uint8_t { VirtioMmio, Pci };

// Where a device is, for messages and for refusing a device announced twice.
struct DeviceAddress {
    Bus bus;
    // VirtioMmio: the register window's physical address. Pci: segment << 16 | bus << 8 |
    // device << 3 | function.
    std::uint64_t value;
    // VirtioMmio: the GSI; Pci: the INTx pin or MSI-X vector count, informational only.
    std::uint32_t interrupt;
};

struct VirtioDevice {
    virtio::Transport* transport;
    InterruptLine* interrupt;
    DeviceAddress address;
    std::uint32_t type;          // virtio device id (transport->device_id(), e.g. 3: console)
    bool bound;                  // a driver took it
};

struct VirtioDriver {
    const char* name;            // for messages: "virtio-console"
    std::uint32_t device_type;
    // Takes `device`: connects its interrupt and starts it. An error leaves it unbound (and is
    // printed with the device's address); the driver must have disconnected the interrupt then.
    ErrorOr<void> (*bind)(VirtioDevice& device);
};

inline constexpr std::size_t kMaxVirtioDevices = 16;
inline constexpr std::size_t kMaxVirtioDrivers = 8;

// The table itself; the kernel has one (registry(), used by the functions below). Selftests make
// their own.
class DeviceRegistry {
public:
    // Bus side. `transport` and `interrupt` must live for good (static storage of the bus). Binds
    // the device at once if a driver for its type is registered. Refuses an address already
    // registered (AlreadyExists: a second driver would reset the device under the first) and a
    // full table (OutOfRange). A failed bind is not an error of this call: it is printed and the
    // device stays unbound.
    ErrorOr<void> add_virtio_device(virtio::Transport& transport, InterruptLine& interrupt, DeviceAddress address);
    // Driver side. Binds every registered device of its type that no driver has yet. One driver
    // per type (AlreadyExists).
    ErrorOr<void> register_virtio_driver(const VirtioDriver& driver);

    std::size_t virtio_device_count();
    const VirtioDevice& virtio_device(std::size_t index);

private:
    void bind(const VirtioDriver& driver, VirtioDevice& device);

    SpinLock m_lock;
    VirtioDevice m_devices[kMaxVirtioDevices] = {};
    std::size_t m_device_count = 0;
    VirtioDriver m_drivers[kMaxVirtioDrivers] = {};
    std::size_t m_driver_count = 0;
};

DeviceRegistry& registry();

inline ErrorOr<void> add_virtio_device(virtio::Transport& transport, InterruptLine& interrupt, DeviceAddress address)
{
    return registry().add_virtio_device(transport, interrupt, address);
}
inline ErrorOr<void> register_virtio_driver(const VirtioDriver& driver) { return registry().register_virtio_driver(driver); }
inline std::size_t virtio_device_count() { return registry().virtio_device_count(); }
inline const VirtioDevice& virtio_device(std::size_t index) { return registry().virtio_device(index); }

// Once per boot (later calls return at once): registers the built-in drivers, then runs every
// bus's discovery (device_discovery.cpp: virtio-mmio from the command line; PCI adds its own).
// Needs the scheduler started (the local APIC). Returns how many devices are bound.
std::size_t discover_devices();

// "virtio-mmio@0xfeb00e00 gsi 12" / "pci 0000:00:03.0" into `out` (NUL-terminated, cut to fit).
StringView describe(const DeviceAddress& address, char* out, std::size_t capacity);

} // namespace delos::devices
