// control_port.cpp: finding the control port among the started consoles.
#include "control/control_port.h"

#include "arch/x86_64/tsc.h"
#include "drivers/virtio/mmio_devices.h"

namespace delos::virtio {

ErrorOr<ControlPort> ControlPort::open(StringView name, std::uint64_t timeout_ns)
{
    std::size_t consoles = TRY(start_mmio_devices());
    if (consoles == 0)
        return Error::make(ErrorCode::NotFound, "control port: no virtio-console device was announced");
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
        if (tsc::nanoseconds_since_boot() >= deadline)
            return Error::make(ErrorCode::Timeout, "control port: no console announced the port in time");
        console(0).wait_for_activity();
    }
}

} // namespace delos::virtio
