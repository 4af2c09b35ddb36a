// console.h: the virtio-console driver (device type 3) with VIRTIO_CONSOLE_F_MULTIPORT: the control
// queue protocol (DEVICE_READY, DEVICE_ADD/PORT_READY, PORT_NAME, PORT_OPEN) and each port's byte
// stream. Received bytes stay in their receive buffers until read (the buffer is then posted
// again), so nothing is copied twice and a slow reader pushes back on the host.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "drivers/device_activity.h"
#include "drivers/virtio/transport.h"
#include "drivers/virtio/virtqueue.h"
#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "memory/frame_allocator.h"
#include "sync/spin_lock.h"

namespace delos::virtio {

inline constexpr std::uint32_t kConsoleDeviceId = spec::console::kDeviceType;
inline constexpr std::uint64_t kConsoleFeatureMultiport = spec::console::kFeatureMultiport;

class ConsoleDriver {
public:
    // Ports this driver sets queues up for (the device may announce up to max_nr_ports).
    static constexpr std::uint32_t kMaxPorts = 4;
    static constexpr std::uint32_t kBufferBytes = 4096;
    static constexpr std::uint16_t kReceiveBuffers = 16;   // per port
    static constexpr std::uint16_t kTransmitBuffers = 16;  // per port
    static constexpr std::uint16_t kControlBuffers = 16;
    static constexpr std::uint32_t kControlBufferBytes = 256;
    static constexpr std::uint32_t kMaxNameBytes = 64;

    ConsoleDriver() = default;
    ConsoleDriver(const ConsoleDriver&) = delete;
    ConsoleDriver& operator=(const ConsoleDriver&) = delete;

    // Negotiates VERSION_1 + MULTIPORT, sets up the control queues and every port's queues, posts
    // control receive buffers, sets DRIVER_OK and sends DEVICE_READY. `transport` must outlive us.
    // The caller routes the device's interrupt to on_interrupt().
    ErrorOr<void> start(Transport& transport);

    // Interrupt context: reads and acknowledges the causes and records that there is work.
    void on_interrupt();

    // Collects what the device returned (control messages, received data, sent buffers) and
    // answers control messages. The other calls poll too; call it when waiting for a port name.
    ErrorOr<void> poll();

    // The port announced with `name` (DEVICE_ADD + PORT_NAME), or NotFound (yet).
    ErrorOr<std::uint32_t> find_port(StringView name);
    // Tells the device we have the port open (PORT_OPEN 1), as an application opening it would.
    ErrorOr<void> open_port(std::uint32_t port);
    // Whether the host end is connected (the device's last PORT_OPEN for the port).
    bool host_connected(std::uint32_t port);
    // Increments each time the host end connects: tells connections apart.
    std::uint64_t connection_number(std::uint32_t port);
    // What read() copied, and which host connection those bytes came from (connection_number's
    // value at the same instant: a caller comparing the number before reading could be raced by a
    // reconnect and feed a new peer's bytes into the old peer's framing).
    struct Received {
        std::size_t bytes = 0;
        std::uint64_t connection = 0;
    };
    // Copies up to `capacity` received bytes, in order; 0 bytes when none are waiting. Never blocks.
    ErrorOr<Received> read(std::uint32_t port, std::uint8_t* into, std::size_t capacity);
    // Queues all of `bytes` for the host, in buffer-sized chunks with one notification per batch;
    // waits for buffers when all are in flight. Fails if the host end is (or becomes) closed, or
    // is not host connection `connection` (connection_number's value; 0: whichever is current
    // when the write starts): a reply never reaches a newer peer than the request came from.
    ErrorOr<void> write(std::uint32_t port, ByteView bytes, std::uint64_t connection = 0);
    // Blocks the calling task on a wait queue until the device interrupts (other tasks run
    // meanwhile), unless it already has since the last call; returns with interrupts enabled.
    // No deadline: it waits for the host (a request, a drained buffer, a PORT_OPEN), and a host
    // that disconnects interrupts too. Before the scheduler runs it halts instead.
    void wait_for_activity();
    // Ends the reader's wait_for_activity / wait_for_input as a device interrupt would (interrupt
    // context, masked code or task): for news that does not come from the device.
    void wake_reader() { m_activity.signal(); }
    // For messages: how many ports the driver set up, and the name port `id` announced ("" if
    // none yet), copied into `out`.
    std::uint32_t port_count() const;
    StringView port_name(std::uint32_t id, char* out, std::size_t capacity);
    // The port's connection as of the last poll (every call above polls), read without the lock
    // (each lock is a cli/sti pair, two traps in kvm_pvm native mode): for a reader that has
    // just called read().
    struct ConnectionState {
        bool open;
        std::uint64_t number;
    };
    ConnectionState connection_state(std::uint32_t port) const;
    // NAPI-style wait for input on `port`: first busy-polls its receive used ring for up to
    // `poll_ns` with that queue's interrupts suppressed (VIRTQ_AVAIL_F_NO_INTERRUPT), returning
    // as soon as data or any interrupt arrives. With data, the queue's interrupts stay off while
    // the reader works (it comes back here before sleeping); without, they are turned back on,
    // the ring re-checked, and it sleeps as wait_for_activity does. Input that comes while the
    // reader works or polls costs no interrupt (nor the two register exits an interrupt costs
    // under virtio-mmio). For the port's only reader, which must not sleep elsewhere on its input.
    void wait_for_input(std::uint32_t port, std::uint64_t poll_ns);

    bool broken() const { return m_broken; }

private:
    struct Port {
        bool added = false;        // DEVICE_ADD seen and buffers posted
        // Written under the lock; atomic so connection_state() can read them without it.
        std::atomic<bool> host_open{false};  // the device's PORT_OPEN
        std::atomic<std::uint64_t> connections{0};
        char name[kMaxNameBytes] = {};
        std::uint32_t name_length = 0;  // 0: no PORT_NAME yet
        Virtqueue receive;
        Virtqueue transmit;
        memory::PhysicalRange receive_memory{};
        memory::PhysicalRange transmit_memory{};
        std::uint16_t buffer_of_head[2][Virtqueue::kMaxSize] = {};  // [0] receive, [1] transmit
        std::uint32_t transmit_free = 0;  // bit i: transmit buffer i is ours
        // Filled receive buffers in arrival order; the first one is partly read up to read_offset.
        std::uint16_t filled[kReceiveBuffers] = {};
        std::uint32_t filled_bytes[kReceiveBuffers] = {};
        // Control messages the device had published when the buffer was seen (see poll_locked).
        std::uint64_t filled_after_control[kReceiveBuffers] = {};
        // Each filled buffer's used-ring position, and the connection boundary delos-vmm sends
        // with PORT_OPEN (abi/virtio_console_boundary.h): entries before it are an ended
        // connection's, however late they are seen. Without one (QEMU), filled_after_control.
        std::uint16_t filled_position[kReceiveBuffers] = {};
        bool boundary_known = false;
        std::uint16_t data_boundary = 0;
        std::uint16_t filled_first = 0;
        std::uint16_t filled_count = 0;
        std::uint32_t read_offset = 0;
    };

    static std::uint16_t receive_queue_of(std::uint32_t port) { return port == 0 ? 0 : static_cast<std::uint16_t>(4 + 2 * (port - 1)); }
    Port* port_or_null(std::uint32_t port);
    ErrorOr<void> set_up_queue(Virtqueue& queue, std::uint16_t index, std::uint16_t wanted_size);
    ErrorOr<void> poll_locked();
    ErrorOr<void> collect_control_messages();
    void handle_control_message(std::uint32_t id, std::uint16_t event, std::uint16_t value, ByteView payload);
    ErrorOr<void> add_port(std::uint32_t id);
    ErrorOr<void> send_control(std::uint32_t id, std::uint16_t event, std::uint16_t value);
    ErrorOr<void> collect_received(Port& port);
    ErrorOr<void> reclaim_transmitted(Port& port);
    ErrorOr<void> post_receive_buffer(Port& port, std::uint16_t buffer);
    // Drops received data the device published before control message number `message`.
    void drop_received_before(Port& port, std::uint64_t message);
    // Drops received data published before the connection boundary `boundary`.
    void drop_received_preceding(Port& port, std::uint16_t boundary);
    ErrorOr<void> break_device(Error reason);
    void notify_published(Virtqueue& queue);

    Transport* m_transport = nullptr;
    SpinLock m_lock;
    devices::DeviceActivity m_activity;
    std::atomic<bool> m_config_changed{false};
    bool m_broken = false;
    Error m_breakage{};
    std::uint32_t m_port_count = 0;
    std::uint64_t m_control_messages = 0;  // control messages taken from the device so far
    Port m_ports[kMaxPorts];

    Virtqueue m_control_receive;
    Virtqueue m_control_transmit;
    memory::PhysicalRange m_control_memory{};  // receive buffers, then 8-byte transmit slots
    std::uint16_t m_control_buffer_of_head[2][Virtqueue::kMaxSize] = {};
    std::uint32_t m_control_transmit_free = 0;
};

} // namespace delos::virtio
