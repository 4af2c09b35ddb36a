// control_socket.h: the unix socket behind the control port (--control-socket), served by its own I/O thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "file_descriptor.h"
#include "virtio/console_device.h"
#include "virtio/mmio_transport.h"

namespace delos::vmm {

// A bound, listening unix socket at a path; the path is removed again when this goes away.
// Bound before KVM is opened, so a bad --control-socket is bad input with or without KVM.
class UnixListener {
public:
    // Binds and listens (replacing a stale socket file at `path`); throws BadInput/HostFailure.
    explicit UnixListener(std::string path);
    UnixListener(UnixListener&& other) noexcept
        : m_path(std::exchange(other.m_path, std::string())), m_fd(std::move(other.m_fd)) {}
    UnixListener& operator=(UnixListener&&) = delete;
    UnixListener(const UnixListener&) = delete;
    ~UnixListener();

    const std::string& path() const { return m_path; }
    int fd() const { return m_fd.get(); }

private:
    std::string m_path;  // empty once moved from: nothing to remove
    FileDescriptor m_fd;
};

// Listens at `path` and serves one client at a time. A client that connects while another is
// connected is refused at once: it receives one channel-protocol frame, a GuestMessage reply with
// request_id 0 and STATUS_BUSY ("another client is connected ..."), then end of file; what it
// sends is read and discarded until it closes (so its first write never fails before it can read
// the refusal). See docs/channel-protocol.md, "Transport".
// The I/O thread moves bytes between the client and the console's port 1 under the transport lock:
//   client -> guest: read only as much as the console can buffer (backpressure on the client);
//   guest -> client: written as the socket accepts it (backpressure on the guest's transmit queue).
// It also serves queue notifications that KVM delivers through ioeventfds.
class ControlSocket {
public:
    // Binds and listens (replacing a stale socket file at `path`); throws BadInput/HostFailure.
    ControlSocket(std::string path, virtio::MmioTransport& transport, virtio::ConsoleDevice& console);
    ControlSocket(UnixListener listener, virtio::MmioTransport& transport, virtio::ConsoleDevice& console);
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;
    // Stops the thread, drops the client and removes the socket file.
    ~ControlSocket();

    // An eventfd KVM signals when the guest writes `queue` to QueueNotify. Before start().
    void watch_queue_notifier(int eventfd, std::uint32_t queue);
    void start();

    const std::string& path() const { return m_listener.path(); }
    std::uint64_t clients_accepted() const { return m_clients_accepted.load(); }
    std::uint64_t clients_refused() const { return m_clients_refused.load(); }

    // How many refused connections are kept draining at most; the oldest is closed for a new one.
    static constexpr std::size_t kMaxRefusedClients = 8;

private:
    void run();
    void update_interest();
    void accept_client();
    bool client_has_hung_up() const;
    void refuse_client(FileDescriptor client);
    void drain_refused_client(int fd);
    void read_from_client();
    void write_to_client();
    void drop_client();

    struct Notifier {
        int fd;
        std::uint32_t queue;
    };

    UnixListener m_listener;
    virtio::MmioTransport& m_transport;
    virtio::ConsoleDevice& m_console;
    FileDescriptor m_client;
    FileDescriptor m_epoll;
    FileDescriptor m_wakeup;  // eventfd: the device has news, or the thread must stop
    std::vector<Notifier> m_notifiers;
    std::uint32_t m_client_events = 0;
    std::uint64_t m_client_tag = 0;  // the epoll tag of m_client's events (see control_socket.cpp)  // what the client fd is registered for (saves epoll_ctl calls)
    std::atomic<bool> m_stopping{false};
    std::atomic<std::uint64_t> m_clients_accepted{0};
    std::atomic<std::uint64_t> m_clients_refused{0};
    std::vector<FileDescriptor> m_refused;  // refused clients, oldest first, until they close
    std::vector<std::uint8_t> m_refusal;    // the frame they get
    std::thread m_thread;
};

} // namespace delos::vmm
