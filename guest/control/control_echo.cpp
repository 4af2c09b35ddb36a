// control_echo.cpp: control-echo, the end-to-end check of the control port (host test: control_echo_test).
#include "control/control_echo.h"

#include "log/kernel_log.h"
#include "control/control_port.h"

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
    // One "connected" and one "disconnected" per host connection, even for a connection that
    // opened and closed between two looks (the connection number tells them apart).
    bool reported_connected = false;
    std::uint64_t reported_connection = 0;
    for (;;) {
        bool connected = port.connected();
        std::uint64_t number = port.connection_number();
        if (number != reported_connection) {
            if (reported_connected)
                kprint("control: disconnected\n");
            // Connections that came and went while we were busy (a read and its echo can span several).
            for (std::uint64_t missed = reported_connection + 1; missed < number; ++missed)
                kprint("control: connected\ncontrol: disconnected\n");
            kprint("control: connected\n");
            reported_connected = true;
            reported_connection = number;
        }
        if (!connected && reported_connected) {
            kprint("control: disconnected\n");
            reported_connected = false;
        }

        auto received = port.read(buffer, sizeof buffer);
        if (received.is_error()) {
            kprint("control: read failed: {}\n", received.error().message);
            return;
        }
        if (received.value().bytes == 0) {
            port.wait_for_activity();
            continue;
        }
        if (auto sent = port.write(ByteView(buffer, received.value().bytes)); sent.is_error())
            kprint("control: echo of {} bytes failed: {}\n", received.value().bytes, sent.error().message);
    }
}

} // namespace delos::virtio
