// console_device.h: virtio-console (device type 3) with multiport; port 1 is a named byte stream to the host.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "virtio_device.h"

namespace delos::vmm::virtio {

// Control messages (virtio 1.2 §5.3.6.2): struct virtio_console_control { le32 id; le16 event; le16 value; }.
namespace console {
using namespace ::delos::virtio::spec::console;  // device type, feature, control events and header
// Queue numbers: port 0 rx/tx, control rx/tx, then port n >= 1 at 4 + 2 * (n - 1).
inline constexpr std::uint16_t kPort1Receive = 4, kPort1Transmit = 5, kQueueCount = 6;
inline constexpr std::uint32_t kHostPort = 1;  // the port backed by the host socket
inline constexpr std::uint16_t kQueueMaxSize = 256;
inline constexpr std::uint32_t kMaxPorts = 2;
} // namespace console

// Port 0 exists (the spec requires it) but is unused: its receive queue is never filled and what
// the guest transmits on it is dropped. Port 1 carries a byte stream to and from the host.
//
// Every method here is called with the transport lock held; the host side (the *_host methods)
// runs on the control socket's thread, the rest on whichever thread saw the notification.
class ConsoleDevice final : public VirtioDevice {
public:
    // Bytes buffered in each direction; beyond this the producer waits (backpressure).
    static constexpr std::size_t kBufferCapacity = 64 * 1024;
    // Control messages waiting for the driver to post control receive buffers.
    static constexpr std::size_t kMaxPendingControlMessages = 64;

    explicit ConsoleDevice(std::string port_name);

    // VirtioDevice
    std::uint32_t device_type() const override { return console::kDeviceType; }
    std::uint64_t offered_features() const override { return kFeatureVersion1 | console::kFeatureMultiport; }
    std::span<Virtqueue> queues() override { return m_queues; }
    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const override;
    void write_config(std::uint64_t, std::span<const std::uint8_t>) override {}
    void activate(const GuestMemory& memory, std::uint64_t features, VirtioSignals& signals) override;
    void queue_notified(std::uint16_t index) override;
    void reset() override;

    // Host side of port 1.
    // Called when the device has new bytes for the host or has made room for bytes from it.
    void set_host_wakeup(std::function<void()> wakeup) { m_host_wakeup = std::move(wakeup); }
    void host_connected();
    // Drops what the client sent and the guest has not taken, and what the guest sent for it.
    void host_disconnected();
    std::size_t host_input_space() const { return kBufferCapacity - m_to_guest.size(); }
    // Takes up to host_input_space() bytes and delivers what the guest has buffers for.
    std::size_t accept_from_host(std::span<const std::uint8_t> bytes);
    std::size_t pending_for_host() const { return m_to_host.size(); }
    std::size_t peek_for_host(std::span<std::uint8_t> out) const;
    void consume_for_host(std::size_t count);

    // For tests and diagnostics.
    bool port_ready() const { return m_port_ready; }
    bool guest_opened_port() const { return m_guest_open; }

private:
    bool usable() const { return m_signals && !m_signals->needs_reset(); }
    // Pops from queue `index`; a hostile ring puts the device in NEEDS_RESET and returns nullopt.
    std::optional<DescriptorChain> pop(std::uint16_t index);
    bool give_back(std::uint16_t index, const DescriptorChain& chain, std::uint32_t written);
    void handle_control_messages();
    void handle_control_message(std::uint32_t id, std::uint16_t event, std::uint16_t value);
    void send_control(std::uint32_t id, std::uint16_t event, std::uint16_t value, std::string_view payload = {});
    void flush_control_messages();
    void deliver_to_guest();
    void transmit_from_guest();
    void drop_port0_output();
    void wake_host();

    std::string m_port_name;
    std::vector<Virtqueue> m_queues;
    const GuestMemory* m_memory = nullptr;
    VirtioSignals* m_signals = nullptr;
    bool m_multiport = false;
    std::function<void()> m_host_wakeup;

    std::deque<std::vector<std::uint8_t>> m_pending_control;
    bool m_port_ready = false;  // the driver answered DEVICE_ADD with PORT_READY 1
    bool m_guest_open = false;  // the driver's own PORT_OPEN
    bool m_host_connected = false;
    // The last PORT_OPEN the driver has been handed (published, not merely queued). Client bytes
    // wait for an open: the driver drops data that arrived before the open announcing it.
    bool m_driver_told_open = false;

    std::deque<std::uint8_t> m_to_guest;
    std::deque<std::uint8_t> m_to_host;
    // A transmit chain partly copied to m_to_host when it filled up.
    std::optional<DescriptorChain> m_transmit_chain;
    std::uint64_t m_transmit_offset = 0;
};

} // namespace delos::vmm::virtio
