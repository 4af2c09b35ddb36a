// control_port.h: the byte stream to the controller: the virtio-console port named
// org.delos.control.0 (the same name the QEMU/libvirt channel uses), for the control agent.
#pragma once

#include "abi/channel_limits.h"

#include <cstddef>
#include <cstdint>

#include "drivers/virtio/console.h"
#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::virtio {

// The one definition is the guest/host contract's (abi/channel_limits.h).
inline constexpr StringView kControlPortName(channel::kControlPortName, sizeof channel::kControlPortName - 1);

class ControlPort {
public:
    // Discovers the devices (once) and waits up to `timeout_ns` for a console to announce a port
    // called `name`; then opens it (PORT_OPEN 1). The deadline comes from the scheduler's timer;
    // at it, what was waited for and the ports seen are printed. kDefaultOpenTimeout: 60 s, or
    // `control.open_timeout_ms=N` on the kernel command line.
    static constexpr std::uint64_t kDefaultOpenTimeout = ~0ull;
    static ErrorOr<ControlPort> open(StringView name = kControlPortName, std::uint64_t timeout_ns = kDefaultOpenTimeout);

    // Whether a host client is connected to the other end now.
    bool connected() { return m_console->host_connected(m_port); }
    // Increments on every new host connection: a change means the peer (and its framing) is new.
    std::uint64_t connection_number() { return m_console->connection_number(m_port); }
    // Non-blocking: copies up to `capacity` received bytes, in order; 0 when none are waiting;
    // says which connection they came from.
    // Bytes stay queued until read; a host disconnect drops that connection's unread bytes.
    ErrorOr<ConsoleDriver::Received> read(std::uint8_t* into, std::size_t capacity)
    {
        return m_console->read(m_port, into, capacity);
    }
    // Sends all of `bytes` (may wait for transmit buffers); fails when no host is connected or
    // the connection changes while writing, or is not `connection` (0: the current one).
    ErrorOr<void> write(ByteView bytes, std::uint64_t connection = 0) { return m_console->write(m_port, bytes, connection); }
    // Sleeps until the device interrupts (data, a sent buffer back, a control message), or returns
    // at once if it has since the last call. Enables interrupts.
    void wait_for_activity() { m_console->wait_for_activity(); }
    // Waits for input: busy-polls up to `poll_ns` without interrupts, then as wait_for_activity
    // (see ConsoleDriver::wait_for_input). For the port's only reader.
    void wait_for_input(std::uint64_t poll_ns) { m_console->wait_for_input(m_port, poll_ns); }
    // Ends the reader's current or next wait at once (safe with interrupts masked).
    void wake_reader() { m_console->wake_reader(); }
    // connected() and connection_number() as of the last call that polled (read, write), without
    // taking the driver's lock.
    ConsoleDriver::ConnectionState connection_state() const { return m_console->connection_state(m_port); }

private:
    ControlPort(ConsoleDriver& console, std::uint32_t port) : m_console(&console), m_port(port) {}

    ConsoleDriver* m_console;
    std::uint32_t m_port;
};

} // namespace delos::virtio
