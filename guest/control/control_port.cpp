// control_port.cpp: finding the control port by name among the consoles the registry bound.
#include "control/control_port.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "drivers/device_registry.h"
#include "drivers/virtio/console_devices.h"
#include "platform/boot_facts.h"
#include "lib/core/command_line.h"
#include "task/scheduler.h"

namespace delos::virtio {

namespace {

// How often open() looks again while it waits. The console's control messages come within a
// few device round trips of DEVICE_READY; the sleep is the scheduler timer's, so the deadline
// fires even when the device never interrupts.
constexpr std::uint64_t kOpenPollNs = 1'000'000;

constexpr std::uint64_t kOpenTimeoutNs = 60'000'000'000ull;

std::uint64_t open_timeout_from_command_line()
{
    StringView value;
    if (!CommandLine(platform::boot_info().command_line).option("control.open_timeout_ms", value) || value.empty())
        return kOpenTimeoutNs;
    std::uint64_t milliseconds = 0;
    for (char c : value) {
        if (c < '0' || c > '9' || milliseconds > 1'000'000'000)
            return kOpenTimeoutNs;
        milliseconds = milliseconds * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return milliseconds * 1'000'000;
}

void report_ports_seen(StringView name, std::uint64_t timeout_ns)
{
    kprint("control port: waited {} ms for a console port named '{}'; ports seen:", timeout_ns / 1'000'000, name);
    bool any = false;
    for (std::size_t i = 0; i < console_count(); ++i) {
        ConsoleDriver& candidate = console(i);
        for (std::uint32_t port = 0; port < candidate.port_count(); ++port) {
            char text[ConsoleDriver::kMaxNameBytes];
            StringView seen = candidate.port_name(port, text, sizeof text);
            kprint(" console {} port {} '{}'", i, port, seen);
            any = true;
        }
    }
    kprint(any ? "\n" : " none\n");
}

} // namespace

ErrorOr<ControlPort> ControlPort::open(StringView name, std::uint64_t timeout_ns)
{
    devices::discover_devices();
    std::size_t consoles = console_count();
    if (consoles == 0) {
        kprint("control port: no virtio-console device was found. The guest finds virtio-mmio devices "
               "through virtio_mmio.device= on the command line; QEMU microvm writes those only with "
               "ACPI off (-M microvm,acpi=off; docs/qemu-and-libvirt.md)\n");
        return Error::make(ErrorCode::NotFound, "control port: no virtio-console device was found");
    }
    if (timeout_ns == kDefaultOpenTimeout)
        timeout_ns = open_timeout_from_command_line();
    std::uint64_t deadline = tsc::nanoseconds_since_boot() + timeout_ns;
    // DEVICE_ADD, PORT_READY and PORT_NAME take a few round trips after DEVICE_READY.
    for (;;) {
        bool any_alive = false;
        for (std::size_t i = 0; i < consoles; ++i) {
            ConsoleDriver& candidate = console(i);
            auto port = candidate.find_port(name);
            if (!port.is_error()) {
                TRY(candidate.open_port(port.value()));
                return ControlPort(candidate, port.value());
            }
            any_alive |= !candidate.broken();
        }
        if (!any_alive)
            return Error::make(ErrorCode::Io, "control port: every virtio-console device failed");
        std::uint64_t now = tsc::nanoseconds_since_boot();
        if (now >= deadline) {
            report_ports_seen(name, timeout_ns);
            return Error::make(ErrorCode::Timeout, "control port: no console announced the port in time");
        }
        std::uint64_t pause_ns = deadline - now < kOpenPollNs ? deadline - now : kOpenPollNs;
        if (task::scheduler::started()) {
            task::scheduler::sleep_for(pause_ns);
        } else {
            while (tsc::nanoseconds_since_boot() < now + pause_ns)
                cpu::pause();
        }
        consoles = console_count();
    }
}

} // namespace delos::virtio
