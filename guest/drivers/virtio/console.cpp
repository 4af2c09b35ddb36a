// console.cpp: virtio-console multiport driver: control protocol, receive buffers, batched transmit.
#include "drivers/virtio/console.h"

#include "abi/virtio_console_boundary.h"
#include "abi/virtio_spec.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "memory/mapped_pages.h"
#include "drivers/virtio/port_name.h"

namespace delos::virtio {

namespace {

using namespace spec::console;  // control events, the control header, queue numbers
constexpr std::uint16_t kControlReceiveQueue = kControlReceive, kControlTransmitQueue = kControlTransmit;
constexpr std::uint32_t kConfigMaxPorts = 4;  // virtio_console_config.max_nr_ports
constexpr std::uint32_t kControlSlotBytes = 16;

std::uint32_t bit(std::uint32_t index) { return 1u << index; }

// Takes the lowest set bit's index out of `mask`; false when it is empty.
bool take_lowest(std::uint32_t& mask, std::uint16_t& index)
{
    if (mask == 0)
        return false;
    index = static_cast<std::uint16_t>(__builtin_ctz(mask));
    mask &= mask - 1;
    return true;
}

std::uint16_t queue_size_for(std::uint16_t buffers) { return buffers <= 16 ? 16 : 32; }

} // namespace

ConsoleDriver::Port* ConsoleDriver::port_or_null(std::uint32_t port)
{
    return port < m_port_count ? &m_ports[port] : nullptr;
}

ErrorOr<void> ConsoleDriver::set_up_queue(Virtqueue& queue, std::uint16_t index, std::uint16_t wanted_size)
{
    std::uint16_t max = m_transport->queue_max_size(index);
    if (max == 0)
        return Error::make(ErrorCode::NotFound, "virtio-console: the device lacks a queue", index);
    std::uint16_t size = wanted_size;
    while (size > max)
        size = static_cast<std::uint16_t>(size / 2);  // sizes stay powers of two
    TRY(queue.allocate(index, size));
    TRY(m_transport->enable_queue(queue));
    return {};
}

ErrorOr<void> ConsoleDriver::start(Transport& transport)
{
    SpinLockGuard guard(m_lock);
    if (m_transport)
        return Error::make(ErrorCode::AlreadyExists, "virtio-console: already started");
    if (transport.device_id() != kConsoleDeviceId)
        return Error::make(ErrorCode::InvalidArgument, "virtio-console: not a console device", transport.device_id());
    m_transport = &transport;
    TRY(transport.negotiate_features(kFeatureVersion1 | kConsoleFeatureMultiport, 0));

    std::uint32_t announced_ports = transport.read_config32(kConfigMaxPorts);
    m_port_count = announced_ports < kMaxPorts ? announced_ports : kMaxPorts;
    if (m_port_count == 0)
        m_port_count = 1;  // port 0 always exists

    auto failed = [&](Error error) -> Error {
        transport.set_failed();
        return error;
    };
    static_assert(kControlBuffers * kControlBufferBytes <= memory::kPageSize);
    static_assert(kControlBuffers <= 32 && kReceiveBuffers <= 32 && kTransmitBuffers <= 32);
    if (auto queue = set_up_queue(m_control_receive, kControlReceiveQueue, queue_size_for(kControlBuffers)); queue.is_error())
        return failed(queue.error());
    if (auto queue = set_up_queue(m_control_transmit, kControlTransmitQueue, queue_size_for(kControlBuffers)); queue.is_error())
        return failed(queue.error());
    for (std::uint32_t id = 0; id < m_port_count; ++id) {
        std::uint16_t receive_index = receive_queue_of(id);
        if (auto queue = set_up_queue(m_ports[id].receive, receive_index, queue_size_for(kReceiveBuffers)); queue.is_error())
            return failed(queue.error());
        if (auto queue = set_up_queue(m_ports[id].transmit, static_cast<std::uint16_t>(receive_index + 1),
                                      queue_size_for(kTransmitBuffers));
            queue.is_error())
            return failed(queue.error());
        // Nobody waits on sent buffers unless a writer runs out of them (then it asks for interrupts).
        m_ports[id].transmit.set_interrupts_wanted(false);
    }
    m_control_transmit.set_interrupts_wanted(false);

    auto control_memory = memory::allocate_device_frames(2);
    if (control_memory.is_error())
        return failed(control_memory.error());
    m_control_memory = control_memory.value();
    std::uint16_t receive_buffers = kControlBuffers;
    if (m_control_receive.size() < receive_buffers)
        receive_buffers = m_control_receive.size();
    for (std::uint16_t buffer = 0; buffer < receive_buffers; ++buffer) {
        BufferSegment segment{m_control_memory.start + buffer * kControlBufferBytes, kControlBufferBytes, true};
        auto head = m_control_receive.add_buffer(segment);
        if (head.is_error())
            return failed(head.error());
        m_control_buffer_of_head[0][head.value()] = buffer;
    }
    std::uint16_t transmit_slots = m_control_transmit.size() < 32 ? m_control_transmit.size() : 32;
    m_control_transmit_free = transmit_slots == 32 ? ~0u : bit(transmit_slots) - 1;
    m_control_receive.publish();

    if (auto ok = transport.set_driver_ok(); ok.is_error())
        return failed(ok.error());
    transport.notify(kControlReceiveQueue);
    TRY(send_control(0, kDeviceReady, 1));
    return {};
}

void ConsoleDriver::on_interrupt()
{
    if (!m_transport)
        return;
    std::uint32_t causes = m_transport->take_interrupt_causes();
    if (causes & kInterruptConfigChange)
        m_config_changed.store(true, std::memory_order_relaxed);
    m_activity.signal();
}

ErrorOr<void> ConsoleDriver::break_device(Error reason)
{
    if (!m_broken) {
        m_broken = true;
        m_breakage = reason;
        kprint("virtio-console: giving up on the device: {}", reason.message);
        if (reason.has_value)
            kprint(" ({:#x})", reason.value);
        kprint("\n");
        m_transport->set_failed();
    }
    return m_breakage;
}

void ConsoleDriver::notify_published(Virtqueue& queue)
{
    if (queue.publish())
        m_transport->notify(queue.index());
}

ErrorOr<void> ConsoleDriver::poll()
{
    SpinLockGuard guard(m_lock);
    return poll_locked();
}

ErrorOr<void> ConsoleDriver::poll_locked()
{
    if (!m_transport)
        return Error::make(ErrorCode::InvalidArgument, "virtio-console: not started");
    if (m_broken)
        return m_breakage;
    if (m_config_changed.exchange(false, std::memory_order_acquire) && m_transport->needs_reset())
        return break_device(Error::make(ErrorCode::Io, "the device reports DEVICE_NEEDS_RESET"));
    // Received data first, then control messages. The device publishes into all its used rings
    // in one order, but the driver cannot see that order across rings; what it can know is that a
    // control message not yet published when a receive buffer was seen came after that buffer.
    // collect_received tags each buffer with that bound, and a PORT_OPEN drops only data tagged
    // as certainly older: the unread bytes of a closed connection, never a new connection's.
    for (std::uint32_t id = 0; id < m_port_count; ++id) {
        Port& port = m_ports[id];
        if (!port.added)
            continue;
        if (auto received = collect_received(port); received.is_error())
            return break_device(received.error());
        if (auto sent = reclaim_transmitted(port); sent.is_error())
            return break_device(sent.error());
    }
    if (auto collected = collect_control_messages(); collected.is_error())
        return break_device(collected.error());
    return {};
}

ErrorOr<void> ConsoleDriver::collect_control_messages()
{
    UsedBuffer used;
    bool reposted = false;
    while (TRY(m_control_receive.take_used(used))) {
        std::uint16_t buffer = m_control_buffer_of_head[0][used.head];
        std::uint64_t address = m_control_memory.start + buffer * kControlBufferBytes;
        ByteView message(reinterpret_cast<const void*>(address), used.written);  // written <= buffer: checked
        if (used.written >= kControlHeaderBytes) {
            std::uint32_t id = message.read<std::uint32_t>(0).value();
            std::uint16_t event = message.read<std::uint16_t>(4).value();
            std::uint16_t value = message.read<std::uint16_t>(6).value();
            handle_control_message(id, event, value,
                                   ByteView(message.data() + kControlHeaderBytes, used.written - kControlHeaderBytes));
            ++m_control_messages;
        } else {
            kprint("virtio-console: ignoring a {}-byte control message (shorter than its header)\n", used.written);
        }
        BufferSegment segment{address, kControlBufferBytes, true};
        auto head = TRY(m_control_receive.add_buffer(segment));
        m_control_buffer_of_head[0][head] = buffer;
        reposted = true;
    }
    if (reposted)
        notify_published(m_control_receive);
    while (TRY(m_control_transmit.take_used(used)))
        m_control_transmit_free |= bit(m_control_buffer_of_head[1][used.head]);
    return {};
}

void ConsoleDriver::handle_control_message(std::uint32_t id, std::uint16_t event, std::uint16_t value, ByteView payload)
{
    Port* port = port_or_null(id);
    switch (event) {
    case kDeviceAdd: {
        if (!port) {
            kprint("virtio-console: device added port {}, beyond the {} we have queues for\n", id, m_port_count);
            (void)send_control(id, kPortReady, 0);
            return;
        }
        auto added = add_port(id);
        if (added.is_error())
            kprint("virtio-console: cannot add port {}: {}\n", id, added.error().message);
        (void)send_control(id, kPortReady, added.is_error() ? 0 : 1);
        return;
    }
    case kDeviceRemove:
        if (port) {
            port->host_open = false;
            drop_received_before(*port, m_control_messages);
        }
        return;
    case kPortName: {
        if (!port)
            return;
        auto length = static_cast<std::uint32_t>(port_name_length(payload, kMaxNameBytes));
        __builtin_memcpy(port->name, payload.data(), length);
        port->name_length = length;
        return;
    }
    case kPortOpen: {
        if (!port)
            return;
        bool open = value == 1;
        if (open && !port->host_open)
            ++port->connections;
        // Either way, what an earlier connection sent and nobody read goes.
        std::uint16_t boundary;
        if (virtio_console::decode_boundary(payload.data(), payload.size(), boundary)) {
            port->boundary_known = true;
            port->data_boundary = boundary;
            drop_received_preceding(*port, boundary);
        } else {
            drop_received_before(*port, m_control_messages);
        }
        port->host_open = open;
        return;
    }
    case kConsolePort:
    case kResize:
        return;  // no console semantics here
    default:
        kprint("virtio-console: ignoring control event {} for port {}\n", event, id);
        return;
    }
}

ErrorOr<void> ConsoleDriver::add_port(std::uint32_t id)
{
    Port& port = m_ports[id];
    if (port.added)
        return {};
    if (!port.receive_memory.size)
        port.receive_memory = TRY(memory::allocate_device_frames(kReceiveBuffers * kBufferBytes / memory::kPageSize));
    if (!port.transmit_memory.size)
        port.transmit_memory = TRY(memory::allocate_device_frames(kTransmitBuffers * kBufferBytes / memory::kPageSize));
    std::uint16_t receive_buffers = port.receive.size() < kReceiveBuffers ? port.receive.size() : kReceiveBuffers;
    for (std::uint16_t buffer = 0; buffer < receive_buffers; ++buffer)
        TRY(post_receive_buffer(port, buffer));
    std::uint16_t transmit_buffers = port.transmit.size() < kTransmitBuffers ? port.transmit.size() : kTransmitBuffers;
    port.transmit_free = transmit_buffers == 32 ? ~0u : bit(transmit_buffers) - 1;
    port.added = true;
    notify_published(port.receive);
    return {};
}

ErrorOr<void> ConsoleDriver::post_receive_buffer(Port& port, std::uint16_t buffer)
{
    BufferSegment segment{port.receive_memory.start + std::uint64_t(buffer) * kBufferBytes, kBufferBytes, true};
    std::uint16_t head = TRY(port.receive.add_buffer(segment));
    port.buffer_of_head[0][head] = buffer;
    return {};
}

ErrorOr<void> ConsoleDriver::send_control(std::uint32_t id, std::uint16_t event, std::uint16_t value)
{
    UsedBuffer used;
    while (TRY(m_control_transmit.take_used(used)))
        m_control_transmit_free |= bit(m_control_buffer_of_head[1][used.head]);
    std::uint16_t slot;
    if (!take_lowest(m_control_transmit_free, slot))
        return Error::make(ErrorCode::Busy, "virtio-console: every control message slot is in flight");
    std::uint64_t address = m_control_memory.start + memory::kPageSize + slot * kControlSlotBytes;
    auto* message = reinterpret_cast<std::uint8_t*>(address);
    __builtin_memcpy(message, &id, 4);
    __builtin_memcpy(message + 4, &event, 2);
    __builtin_memcpy(message + 6, &value, 2);
    auto head = m_control_transmit.add_buffer({address, kControlHeaderBytes, false});
    if (head.is_error()) {
        m_control_transmit_free |= bit(slot);
        return head.release_error();
    }
    m_control_buffer_of_head[1][head.value()] = slot;
    notify_published(m_control_transmit);
    return {};
}

ErrorOr<void> ConsoleDriver::collect_received(Port& port)
{
    UsedBuffer used;
    for (std::uint16_t position = port.receive.used_taken(); TRY(port.receive.take_used(used));
         position = port.receive.used_taken()) {
        std::uint16_t buffer = port.buffer_of_head[0][used.head];
        bool stale = port.boundary_known && virtio_console::precedes_boundary(position, port.data_boundary);
        if (used.written == 0 || port.filled_count == kReceiveBuffers || stale) {
            TRY(post_receive_buffer(port, buffer));  // nothing (current) in it: straight back to the device
            continue;
        }
        std::uint16_t slot = static_cast<std::uint16_t>((port.filled_first + port.filled_count) % kReceiveBuffers);
        port.filled[slot] = buffer;
        port.filled_bytes[slot] = used.written;
        port.filled_position[slot] = position;
        // Read after the receive entry: messages numbered from here on were published after it.
        port.filled_after_control[slot] = m_control_messages + m_control_receive.unconsumed_used();
        ++port.filled_count;
    }
    notify_published(port.receive);
    return {};
}

void ConsoleDriver::drop_received_before(Port& port, std::uint64_t message)
{
    // Tags grow along the FIFO, so what goes is a prefix.
    bool dropped = false;
    while (port.filled_count > 0 && port.filled_after_control[port.filled_first] <= message) {
        (void)post_receive_buffer(port, port.filled[port.filled_first]);
        port.filled_first = static_cast<std::uint16_t>((port.filled_first + 1) % kReceiveBuffers);
        --port.filled_count;
        port.read_offset = 0;
        dropped = true;
    }
    if (dropped)
        notify_published(port.receive);
}

void ConsoleDriver::drop_received_preceding(Port& port, std::uint16_t boundary)
{
    // Positions grow along the FIFO, so what goes is a prefix.
    bool dropped = false;
    while (port.filled_count > 0 && virtio_console::precedes_boundary(port.filled_position[port.filled_first], boundary)) {
        (void)post_receive_buffer(port, port.filled[port.filled_first]);
        port.filled_first = static_cast<std::uint16_t>((port.filled_first + 1) % kReceiveBuffers);
        --port.filled_count;
        port.read_offset = 0;
        dropped = true;
    }
    if (dropped)
        notify_published(port.receive);
}

ErrorOr<void> ConsoleDriver::reclaim_transmitted(Port& port)
{
    UsedBuffer used;
    while (TRY(port.transmit.take_used(used)))
        port.transmit_free |= bit(port.buffer_of_head[1][used.head]);
    return {};
}

ErrorOr<std::uint32_t> ConsoleDriver::find_port(StringView name)
{
    SpinLockGuard guard(m_lock);
    TRY(poll_locked());
    for (std::uint32_t id = 0; id < m_port_count; ++id) {
        const Port& port = m_ports[id];
        if (port.added && port.name_length && StringView(port.name, port.name_length) == name)
            return id;
    }
    return Error::make(ErrorCode::NotFound, "virtio-console: no port with that name (yet)");
}

ErrorOr<void> ConsoleDriver::open_port(std::uint32_t id)
{
    SpinLockGuard guard(m_lock);
    if (!port_or_null(id))
        return Error::make(ErrorCode::OutOfRange, "virtio-console: no such port", id);
    TRY(poll_locked());
    return send_control(id, kPortOpen, 1);
}

bool ConsoleDriver::host_connected(std::uint32_t id)
{
    SpinLockGuard guard(m_lock);
    Port* port = port_or_null(id);
    if (!port || poll_locked().is_error())
        return false;
    return port->host_open;
}

ConsoleDriver::ConnectionState ConsoleDriver::connection_state(std::uint32_t id) const
{
    if (id >= m_port_count)
        return {false, 0};
    const Port& port = m_ports[id];
    return {port.host_open.load(std::memory_order_relaxed), port.connections.load(std::memory_order_relaxed)};
}

std::uint64_t ConsoleDriver::connection_number(std::uint32_t id)
{
    SpinLockGuard guard(m_lock);
    Port* port = port_or_null(id);
    return port ? port->connections.load() : 0;
}

ErrorOr<ConsoleDriver::Received> ConsoleDriver::read(std::uint32_t id, std::uint8_t* into, std::size_t capacity)
{
    SpinLockGuard guard(m_lock);
    Port* port = port_or_null(id);
    if (!port)
        return Error::make(ErrorCode::OutOfRange, "virtio-console: no such port", id);
    TRY(poll_locked());
    std::size_t copied = 0;
    bool reposted = false;
    while (copied < capacity && port->filled_count > 0) {
        std::uint16_t buffer = port->filled[port->filled_first];
        std::uint32_t available = port->filled_bytes[port->filled_first] - port->read_offset;
        std::size_t count = available < capacity - copied ? available : capacity - copied;
        const auto* source = reinterpret_cast<const std::uint8_t*>(port->receive_memory.start +
                                                                   std::uint64_t(buffer) * kBufferBytes + port->read_offset);
        __builtin_memcpy(into + copied, source, count);
        copied += count;
        port->read_offset += static_cast<std::uint32_t>(count);
        if (port->read_offset == port->filled_bytes[port->filled_first]) {
            port->read_offset = 0;
            port->filled_first = static_cast<std::uint16_t>((port->filled_first + 1) % kReceiveBuffers);
            --port->filled_count;
            TRY(post_receive_buffer(*port, buffer));
            reposted = true;
        }
    }
    if (reposted)
        notify_published(port->receive);
    // poll_locked dropped every byte older than the last PORT_OPEN: what is left is this connection's.
    return Received{copied, port->connections};
}

ErrorOr<void> ConsoleDriver::write(std::uint32_t id, ByteView bytes, std::uint64_t expected_connection)
{
    bool restore_interrupts = m_lock.lock();
    auto unlock = [&] { m_lock.unlock(restore_interrupts); };
    Port* port = port_or_null(id);
    if (!port || !port->added) {
        unlock();
        return Error::make(ErrorCode::OutOfRange, "virtio-console: no such port", id);
    }
    std::uint64_t connection = 0;
    std::size_t sent = 0;
    for (bool first = true;; first = false) {
        if (auto polled = poll_locked(); polled.is_error()) {
            unlock();
            return polled.release_error();
        }
        if (first)  // the connection the bytes being answered came from
            connection = expected_connection != 0 ? expected_connection : port->connections.load();
        if (!port->host_open || port->connections != connection) {
            unlock();
            return Error::make(ErrorCode::Io, "virtio-console: the host end of the port is not connected", id);
        }
        std::uint16_t buffer;
        while (sent < bytes.size() && take_lowest(port->transmit_free, buffer)) {
            std::size_t chunk = bytes.size() - sent < kBufferBytes ? bytes.size() - sent : kBufferBytes;
            std::uint64_t address = port->transmit_memory.start + std::uint64_t(buffer) * kBufferBytes;
            __builtin_memcpy(reinterpret_cast<void*>(address), bytes.data() + sent, chunk);
            auto head = port->transmit.add_buffer({address, static_cast<std::uint32_t>(chunk), false});
            if (head.is_error()) {
                port->transmit_free |= bit(buffer);
                unlock();
                return head.release_error();
            }
            port->buffer_of_head[1][head.value()] = buffer;
            sent += chunk;
        }
        notify_published(port->transmit);  // one notification for the whole batch
        if (sent == bytes.size())
            break;
        // Every buffer is in flight: ask for an interrupt when one comes back, then sleep.
        port->transmit.set_interrupts_wanted(true);
        if (auto reclaimed = reclaim_transmitted(*port); reclaimed.is_error()) {
            auto broken = break_device(reclaimed.release_error());
            unlock();
            return broken;
        }
        if (port->transmit_free == 0) {
            unlock();
            wait_for_activity();
            (void)m_lock.lock();  // interrupts stay as wait_for_activity left them: enabled
        }
        port->transmit.set_interrupts_wanted(false);
    }
    unlock();
    return {};
}

void ConsoleDriver::wait_for_input(std::uint32_t id, std::uint64_t poll_ns)
{
    Port* port = port_or_null(id);
    if (poll_ns > 0 && port && port->added && !m_broken) {
        // Only this reader changes the receive queue's interrupt flag; reading the used index
        // needs no lock (the device only ever advances it, and poll() validates what it finds).
        port->receive.set_interrupts_wanted(false);
        std::uint64_t deadline = tsc::nanoseconds_since_boot() + poll_ns;
        while (port->receive.unconsumed_used() == 0 && !m_activity.pending() &&
               tsc::nanoseconds_since_boot() < deadline)
            cpu::pause();
        // Input: the interrupts stay off while the reader works on it (more input arriving
        // meanwhile needs none; the reader comes back here before it sleeps).
        if (port->receive.unconsumed_used() != 0)
            return;
        // Interrupts back on (the store is fenced), then look once more: a buffer the device
        // completed while it still saw the flag came without an interrupt.
        port->receive.set_interrupts_wanted(true);
        if (port->receive.unconsumed_used() != 0)
            return;
    }
    wait_for_activity();
}

void ConsoleDriver::wait_for_activity() { m_activity.wait(); }

std::uint32_t ConsoleDriver::port_count() const { return m_port_count; }

StringView ConsoleDriver::port_name(std::uint32_t id, char* out, std::size_t capacity)
{
    SpinLockGuard guard(m_lock);
    Port* port = port_or_null(id);
    if (!port || !port->added || capacity == 0)
        return {};
    std::size_t length = port->name_length < capacity ? port->name_length : capacity;
    __builtin_memcpy(out, port->name, length);
    return StringView(out, length);
}

} // namespace delos::virtio
