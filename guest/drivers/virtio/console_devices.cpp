// console_devices.cpp: binds virtio-console devices from the registry: a driver per device, its
// interrupt line connected to the driver before the device starts.
#include "drivers/virtio/console_devices.h"

#include <atomic>

#include "drivers/device_registry.h"

namespace delos::virtio {

namespace {

constexpr std::size_t kMaxConsoles = 4;

// A slot whose driver failed to start is never reused (its driver keeps the failed state and
// may still be referenced by a late interrupt); g_live lists the started ones.
ConsoleDriver g_consoles[kMaxConsoles];
std::size_t g_slots_used = 0;
ConsoleDriver* g_live[kMaxConsoles] = {};
std::atomic<std::size_t> g_live_count{0};

void on_console_interrupt(void* context) { static_cast<ConsoleDriver*>(context)->on_interrupt(); }

ErrorOr<void> bind_console(devices::VirtioDevice& device)
{
    if (g_slots_used == kMaxConsoles)
        return Error::make(ErrorCode::OutOfRange, "virtio-console: more consoles than the driver holds", kMaxConsoles);
    ConsoleDriver& driver = g_consoles[g_slots_used++];
    TRY(device.interrupt->connect(on_console_interrupt, &driver));
    if (auto started = driver.start(*device.transport); started.is_error()) {
        device.interrupt->disconnect();
        return started.release_error();
    }
    std::size_t index = g_live_count.load(std::memory_order_relaxed);
    g_live[index] = &driver;
    g_live_count.store(index + 1, std::memory_order_release);
    return {};
}

} // namespace

ErrorOr<void> register_console_driver()
{
    return devices::register_virtio_driver({"virtio-console", kConsoleDeviceId, bind_console});
}

std::size_t console_count() { return g_live_count.load(std::memory_order_acquire); }
ConsoleDriver& console(std::size_t index) { return *g_live[index]; }

} // namespace delos::virtio
