// console_device.cpp: the virtio-console control protocol and the port 1 byte pumps.
#include "console_device.h"

#include <algorithm>
#include <cstring>

#include "abi/virtio_console_boundary.h"

namespace delos::vmm::virtio {

using namespace console;

namespace {
// struct virtio_console_config { le16 cols; le16 rows; le32 max_nr_ports; le32 emerg_wr; }
constexpr std::size_t kConfigBytes = 12;
constexpr std::size_t kCopyChunk = 16 * 1024;
} // namespace

ConsoleDevice::ConsoleDevice(std::string port_name) : m_port_name(std::move(port_name))
{
    m_queues.assign(kQueueCount, Virtqueue(kQueueMaxSize));
}

void ConsoleDevice::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const
{
    std::uint8_t config[kConfigBytes] = {};
    std::uint32_t max_ports = kMaxPorts;
    std::memcpy(config + 4, &max_ports, 4);
    std::memset(data.data(), 0, data.size());
    if (offset < kConfigBytes)
        std::memcpy(data.data(), config + offset, std::min<std::uint64_t>(data.size(), kConfigBytes - offset));
}

void ConsoleDevice::activate(const GuestMemory& memory, std::uint64_t features, VirtioSignals& signals)
{
    m_memory = &memory;
    m_signals = &signals;
    m_multiport = features & kFeatureMultiport;
    // Bytes the client sent before the driver came up wait for port 1's receive buffers.
}

void ConsoleDevice::reset()
{
    m_memory = nullptr;
    m_signals = nullptr;
    m_multiport = false;
    m_pending_control.clear();
    m_port_ready = false;
    m_guest_open = false;
    m_driver_told_open = false;
    m_transmit_chain.reset();
    m_transmit_offset = 0;
    // m_to_guest and m_to_host belong to the host connection, which outlives a guest driver reset.
}

void ConsoleDevice::queue_notified(std::uint16_t index)
{
    if (!usable())
        return;
    switch (index) {
    case kPort0Transmit: drop_port0_output(); return;
    case kControlReceive: flush_control_messages(); return;
    case kControlTransmit: handle_control_messages(); return;
    case kPort1Receive: deliver_to_guest(); return;
    case kPort1Transmit: transmit_from_guest(); return;
    default: return;  // port 0 receive: buffers wait, unused
    }
}

std::optional<DescriptorChain> ConsoleDevice::pop(std::uint16_t index)
{
    if (!usable())
        return std::nullopt;
    PopResult result = m_queues[index].pop(*m_memory);
    if (result.error) {
        m_signals->device_failed("queue " + std::to_string(index) + ": " + std::string(describe(*result.error)));
        return std::nullopt;
    }
    return std::move(result.chain);
}

bool ConsoleDevice::give_back(std::uint16_t index, const DescriptorChain& chain, std::uint32_t written)
{
    if (!m_queues[index].add_used(*m_memory, chain.head, written)) {
        m_signals->device_failed("queue " + std::to_string(index) + ": used ring left guest RAM");
        return false;
    }
    return true;
}

void ConsoleDevice::drop_port0_output()
{
    bool returned = false;
    while (auto chain = pop(kPort0Transmit)) {
        if (!give_back(kPort0Transmit, *chain, 0))
            return;
        returned = true;
    }
    if (returned && usable())
        m_signals->used_buffers(m_queues[kPort0Transmit]);
}

void ConsoleDevice::handle_control_messages()
{
    if (!m_multiport)
        return;
    bool returned = false;
    while (auto chain = pop(kControlTransmit)) {
        std::uint8_t header[kControlHeaderBytes];
        // A message shorter than its header carries nothing we can act on: it is returned unread.
        if (Virtqueue::read_chain(*m_memory, *chain, 0, header) == sizeof header) {
            std::uint32_t id;
            std::uint16_t event, value;
            std::memcpy(&id, header, 4);
            std::memcpy(&event, header + 4, 2);
            std::memcpy(&value, header + 6, 2);
            handle_control_message(id, event, value);
        }
        if (!give_back(kControlTransmit, *chain, 0))
            return;
        returned = true;
    }
    if (returned && usable())
        m_signals->used_buffers(m_queues[kControlTransmit]);
    flush_control_messages();
}

void ConsoleDevice::handle_control_message(std::uint32_t id, std::uint16_t event, std::uint16_t value)
{
    switch (event) {
    case kDeviceReady:
        if (value == 1)
            send_control(kHostPort, kDeviceAdd, 0);  // port 0 stays unannounced: unused
        return;
    case kPortReady:
        if (id != kHostPort)
            return;
        m_port_ready = value == 1;
        if (m_port_ready) {
            send_control(kHostPort, kPortName, 0, m_port_name);
            if (m_host_connected)
                send_control(kHostPort, kPortOpen, 1);
        }
        return;
    case kPortOpen:
        if (id == kHostPort)
            m_guest_open = value == 1;
        return;
    default: return;  // other events are device-to-driver or unknown: ignored
    }
}

void ConsoleDevice::send_control(std::uint32_t id, std::uint16_t event, std::uint16_t value, std::string_view payload)
{
    std::vector<std::uint8_t> message(kControlHeaderBytes + payload.size());
    std::memcpy(message.data(), &id, 4);
    std::memcpy(message.data() + 4, &event, 2);
    std::memcpy(message.data() + 6, &value, 2);
    if (!payload.empty())  // an empty view may hold a null pointer, which memcpy must not see
        std::memcpy(message.data() + kControlHeaderBytes, payload.data(), payload.size());
    if (event == kPortOpen) {
        // A client that reconnects often adds at most two messages, not many: the latest state, and
        // before an open a close, so that the driver still sees a new connection (a lone open while
        // it believes the port open would glue the new client's bytes onto the old one's).
        auto erased = std::erase_if(m_pending_control, [&](const std::vector<std::uint8_t>& pending) {
            std::uint32_t pending_id;
            std::uint16_t pending_event;
            std::memcpy(&pending_id, pending.data(), 4);
            std::memcpy(&pending_event, pending.data() + 4, 2);
            return pending_id == id && pending_event == kPortOpen;
        });
        if (value == 1 && erased > 0)
            send_control(id, kPortOpen, 0);
    }
    // A driver that keeps asking (DEVICE_READY) but never posts receive buffers cannot grow this.
    if (m_pending_control.size() < kMaxPendingControlMessages)
        m_pending_control.push_back(std::move(message));
}

void ConsoleDevice::flush_control_messages()
{
    if (!m_multiport)
        return;
    bool returned = false;
    while (!m_pending_control.empty()) {
        auto chain = pop(kControlReceive);
        if (!chain)
            break;
        // The driver posts page-sized buffers; a smaller one gets the message truncated.
        std::vector<std::uint8_t>& message = m_pending_control.front();
        std::uint32_t id;
        std::uint16_t event, value;
        std::memcpy(&id, message.data(), 4);
        std::memcpy(&event, message.data() + 4, 2);
        std::memcpy(&value, message.data() + 6, 2);
        if (id == kHostPort && event == kPortOpen) {
            // The connection boundary, as of this publication: no port data is published between
            // a close and the next open (see m_driver_told_open), so this index separates them.
            message.resize(kControlHeaderBytes + virtio_console::kBoundaryBytes);
            virtio_console::encode_boundary(m_queues[kPort1Receive].next_used(), message.data() + kControlHeaderBytes);
        }
        std::size_t written = Virtqueue::write_chain(*m_memory, *chain, message);
        m_pending_control.pop_front();
        if (!give_back(kControlReceive, *chain, static_cast<std::uint32_t>(written)))
            return;
        if (id == kHostPort && event == kPortOpen)
            m_driver_told_open = value == 1;
        returned = true;
    }
    if (returned && usable())
        m_signals->used_buffers(m_queues[kControlReceive]);
    if (m_driver_told_open && !m_to_guest.empty() && usable())
        deliver_to_guest();  // the open is published ahead of the bytes it announces
}

void ConsoleDevice::deliver_to_guest()
{
    if (!m_multiport || !m_driver_told_open)
        return;
    bool returned = false;
    bool made_room = false;
    std::vector<std::uint8_t> chunk;
    Virtqueue& receive = m_queues[kPort1Receive];
    while (!m_to_guest.empty()) {
        auto chain = pop(kPort1Receive);
        if (!chain) {
            if (!usable())
                return;
            // Out of buffers with bytes waiting: the one case a notification is needed. Ask for
            // it, then look once more (a buffer published before the flag was seen came without one).
            if (!receive.set_notifications_wanted(*m_memory, true) || !receive.has_avail(*m_memory))
                break;
            continue;
        }
        std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(chain->writable_bytes, m_to_guest.size()));
        chunk.assign(m_to_guest.begin(), m_to_guest.begin() + static_cast<std::ptrdiff_t>(count));
        std::size_t written = Virtqueue::write_chain(*m_memory, *chain, chunk);
        m_to_guest.erase(m_to_guest.begin(), m_to_guest.begin() + static_cast<std::ptrdiff_t>(written));
        made_room |= written > 0;
        if (!give_back(kPort1Receive, *chain, static_cast<std::uint32_t>(written)))
            return;
        returned = true;
    }
    // Nothing left to deliver: buffers the driver posts need no notification, since bytes from
    // the host make the device look at the avail ring anyway (saves a VM exit per repost).
    if (m_to_guest.empty() && usable())
        receive.set_notifications_wanted(*m_memory, false);
    if (returned && usable())
        m_signals->used_buffers(m_queues[kPort1Receive]);
    if (made_room)
        wake_host();
}

void ConsoleDevice::transmit_from_guest()
{
    if (!m_multiport)
        return;
    bool returned = false;
    bool queued_for_host = false;
    std::uint8_t chunk[kCopyChunk];
    for (;;) {
        if (!m_transmit_chain) {
            m_transmit_chain = pop(kPort1Transmit);
            m_transmit_offset = 0;
            if (!m_transmit_chain)
                break;
        }
        const DescriptorChain& chain = *m_transmit_chain;
        if (m_host_connected) {
            // Copy as much as fits; the rest of the chain waits for the client to read.
            while (m_transmit_offset < chain.readable_bytes && m_to_host.size() < kBufferCapacity) {
                std::size_t room = std::min(kBufferCapacity - m_to_host.size(), sizeof chunk);
                std::size_t copied = Virtqueue::read_chain(*m_memory, chain, m_transmit_offset, {chunk, room});
                if (copied == 0)
                    break;
                m_to_host.insert(m_to_host.end(), chunk, chunk + copied);
                m_transmit_offset += copied;
                queued_for_host = true;
            }
            if (m_transmit_offset < chain.readable_bytes)
                break;
        }
        // Sent, or no client: nobody listens on the port and its output is dropped.
        bool ok = give_back(kPort1Transmit, chain, 0);
        m_transmit_chain.reset();
        if (!ok)
            return;
        returned = true;
    }
    if (returned && usable())
        m_signals->used_buffers(m_queues[kPort1Transmit]);
    if (queued_for_host)
        wake_host();
}

void ConsoleDevice::wake_host()
{
    if (m_host_wakeup)
        m_host_wakeup();
}

void ConsoleDevice::host_connected()
{
    m_host_connected = true;
    m_driver_told_open = false;  // this client's bytes wait for this client's PORT_OPEN
    if (usable() && m_port_ready) {
        send_control(kHostPort, kPortOpen, 1);
        flush_control_messages();
    }
}

void ConsoleDevice::host_disconnected()
{
    m_host_connected = false;
    m_driver_told_open = false;
    m_to_guest.clear();
    m_to_host.clear();
    if (usable() && m_port_ready) {
        send_control(kHostPort, kPortOpen, 0);
        flush_control_messages();
    }
    // A transmit chain waiting for the client is released now (its bytes are dropped).
    if (usable())
        transmit_from_guest();
}

std::size_t ConsoleDevice::accept_from_host(std::span<const std::uint8_t> bytes)
{
    std::size_t count = std::min(bytes.size(), host_input_space());
    m_to_guest.insert(m_to_guest.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(count));
    if (usable())
        deliver_to_guest();
    return count;
}

std::size_t ConsoleDevice::peek_for_host(std::span<std::uint8_t> out) const
{
    std::size_t count = std::min(out.size(), m_to_host.size());
    std::copy_n(m_to_host.begin(), count, out.begin());
    return count;
}

void ConsoleDevice::consume_for_host(std::size_t count)
{
    count = std::min(count, m_to_host.size());
    m_to_host.erase(m_to_host.begin(), m_to_host.begin() + static_cast<std::ptrdiff_t>(count));
    if (count > 0 && usable())
        transmit_from_guest();  // room again: resume a chain that was waiting
}

} // namespace delos::vmm::virtio
