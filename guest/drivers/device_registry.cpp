// device_registry.cpp: the table of found virtio devices and registered drivers, and binding them.
#include "drivers/device_registry.h"

#include "log/kernel_log.h"
#include "lib/core/format.h"

namespace delos::devices {

// Buses and drivers register from the boot path and the agent's first open, never from interrupt
// context; the lock keeps two tasks from binding one device twice. Binding runs outside it (a
// driver's start may sleep), with the device marked taken first.

namespace {

constinit DeviceRegistry g_kernel_registry;

} // namespace

DeviceRegistry& registry() { return g_kernel_registry; }

StringView describe(const DeviceAddress& address, char* out, std::size_t capacity)
{
    if (capacity == 0)
        return {};
    FixedBufferSink sink(out, capacity - 1);
    if (address.bus == Bus::VirtioMmio) {
        format_to(sink, "virtio-mmio@{:#x} gsi {}", address.value, address.interrupt);
    } else {
        format_to(sink, "pci {:04x}:{:02x}:{:02x}.{}", (address.value >> 16) & 0xffff, (address.value >> 8) & 0xff,
                  (address.value >> 3) & 0x1f, address.value & 7);
    }
    out[sink.view().size()] = '\0';
    return sink.view();
}

// Runs `driver` on `device`, which the caller has marked bound; unmarks it on failure.
void DeviceRegistry::bind(const VirtioDriver& driver, VirtioDevice& device)
{
    char where[64];
    describe(device.address, where, sizeof where);
    auto bound = driver.bind(device);
    if (bound.is_error()) {
        kprint("{} at {}: not started: {}", driver.name, where, bound.error().message);
        if (bound.error().has_value)
            kprint(" ({:#x})", bound.error().value);
        kprint("\n");
        bool restore = m_lock.lock();
        device.bound = false;
        m_lock.unlock(restore);
        return;
    }
    kprint("{} at {}: started\n", driver.name, where);
}

ErrorOr<void> DeviceRegistry::add_virtio_device(virtio::Transport& transport, InterruptLine& interrupt,
                                                DeviceAddress address)
{
    bool restore = m_lock.lock();
    for (std::size_t i = 0; i < m_device_count; ++i) {
        if (m_devices[i].address.bus == address.bus && m_devices[i].address.value == address.value) {
            m_lock.unlock(restore);
            return Error::make(ErrorCode::AlreadyExists, "device registry: this device is already registered",
                               address.value);
        }
    }
    if (m_device_count == kMaxVirtioDevices) {
        m_lock.unlock(restore);
        return Error::make(ErrorCode::OutOfRange, "device registry: more devices than the table holds",
                           kMaxVirtioDevices);
    }
    VirtioDevice& device = m_devices[m_device_count++];
    device = VirtioDevice{&transport, &interrupt, address, transport.device_id(), false};
    const VirtioDriver* driver = nullptr;
    for (std::size_t i = 0; i < m_driver_count && !driver; ++i) {
        if (m_drivers[i].device_type == device.type)
            driver = &m_drivers[i];
    }
    if (driver)
        device.bound = true;
    m_lock.unlock(restore);

    if (driver) {
        bind(*driver, device);
    } else {
        char where[64];
        kprint("device registry: {} is virtio type {}, for which there is no driver\n",
               describe(address, where, sizeof where), device.type);
    }
    return {};
}

ErrorOr<void> DeviceRegistry::register_virtio_driver(const VirtioDriver& driver)
{
    bool restore = m_lock.lock();
    for (std::size_t i = 0; i < m_driver_count; ++i) {
        if (m_drivers[i].device_type == driver.device_type) {
            m_lock.unlock(restore);
            return Error::make(ErrorCode::AlreadyExists, "device registry: a driver for this type is registered",
                               driver.device_type);
        }
    }
    if (m_driver_count == kMaxVirtioDrivers) {
        m_lock.unlock(restore);
        return Error::make(ErrorCode::OutOfRange, "device registry: more drivers than the table holds");
    }
    const VirtioDriver& registered = m_drivers[m_driver_count++] = driver;
    m_lock.unlock(restore);

    // Devices are only ever appended, so indexes stay valid while the lock is dropped to bind.
    for (std::size_t i = 0;; ++i) {
        restore = m_lock.lock();
        if (i >= m_device_count) {
            m_lock.unlock(restore);
            break;
        }
        VirtioDevice& device = m_devices[i];
        bool take = !device.bound && device.type == registered.device_type;
        if (take)
            device.bound = true;
        m_lock.unlock(restore);
        if (take)
            bind(registered, device);
    }
    return {};
}

std::size_t DeviceRegistry::virtio_device_count()
{
    bool restore = m_lock.lock();
    std::size_t count = m_device_count;
    m_lock.unlock(restore);
    return count;
}

const VirtioDevice& DeviceRegistry::virtio_device(std::size_t index) { return m_devices[index]; }

} // namespace delos::devices
