// control_echo.cpp: control-echo, the end-to-end check of the control port (host test: control_echo_test).
#include "drivers/virtio/control_echo.h"

#include "debug/kernel_log.h"
#include "drivers/virtio/control_port.h"

namespace delos::virtio {

void run_control_echo()
{
    auto opened = ControlPort::open();
    if (opened.is_error()) {
        kprint("control: cannot open the control port: {}\n", opened.error().message);
        return;
    }
    ControlPort& port = opened.value();
    kprint("control: port {} open\n", kControlPortName);
    static std::uint8_t buffer[16 * 1024];
    bool was_connected = false;
    std::uint64_t connection = 0;
    for (;;) {
        bool connected = port.connected();
        std::uint64_t number = port.connection_number();
        if (was_connected && (!connected || number != connection))
            kprint("control: disconnected\n");
        if (connected && (!was_connected || number != connection))
            kprint("control: connected\n");
        was_connected = connected;
        connection = number;

        auto received = port.read(buffer, sizeof buffer);
        if (received.is_error()) {
            kprint("control: read failed: {}\n", received.error().message);
            return;
        }
        if (received.value() == 0) {
            port.wait_for_activity();
            continue;
        }
        if (auto sent = port.write(ByteView(buffer, received.value())); sent.is_error())
            kprint("control: echo of {} bytes failed: {}\n", received.value(), sent.error().message);
    }
}

} // namespace delos::virtio
