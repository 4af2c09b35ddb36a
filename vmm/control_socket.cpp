// control_socket.cpp: accept, read, write and hang-up handling for the control port's unix socket.
#include "control_socket.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "lib/proto/channel_codec.h"
#include "vmm_error.h"

namespace delos::vmm {

namespace {
constexpr std::size_t kIoChunk = 16 * 1024;
// Set on the I/O thread: the device's wake-up calls made there need no eventfd round.
thread_local bool t_on_control_io_thread = false;

// epoll tags: small numbers for our own fds, notifier n is kNotifierTag + n, a refused client's
// fd f is kRefusedTag + f, the n-th accepted client kClientTag + n: an event still queued for a
// client that has just been replaced must not act on its successor (which may reuse its fd).
constexpr std::uint64_t kWakeupTag = 0, kListenerTag = 1, kNotifierTag = 16, kRefusedTag = 1ull << 32,
                        kClientTag = 1ull << 48;

constexpr const char* kBusyReason = "another client is connected to the control socket (one client at a time)";

std::vector<std::uint8_t> busy_frame()
{
    Vector<std::uint8_t> frame;
    auto message = channel::GuestMessage::make_error_reply(0, Error::make(ErrorCode::Busy, kBusyReason));
    if (channel::append_frame(frame, message).is_error())
        throw HostFailure("cannot encode the control socket's busy reply");
    return {frame.data(), frame.data() + frame.size()};
}

void epoll_set(int epoll, int op, int fd, std::uint32_t events, std::uint64_t tag)
{
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    if (::epoll_ctl(epoll, op, fd, &event) < 0)
        throw_errno("epoll_ctl");
}
} // namespace

UnixListener::UnixListener(std::string path) : m_path(std::move(path))
{
    // (A constructor that throws runs no destructor: the path is removed here if need be.)
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (m_path.empty() || m_path.size() >= sizeof address.sun_path)
        throw BadInput("control socket path '" + m_path + "' is empty or longer than " +
                       std::to_string(sizeof address.sun_path - 1) + " bytes");
    std::memcpy(address.sun_path, m_path.c_str(), m_path.size() + 1);
    struct stat existing {};
    if (::lstat(m_path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode))
            throw BadInput("control socket path " + m_path + " exists and is not a socket");
        ::unlink(m_path.c_str());  // a stale socket from an earlier run
    }
    m_fd = FileDescriptor(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!m_fd.valid())
        throw_errno("socket(AF_UNIX)");
    if (::bind(m_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
        throw BadInput("cannot bind control socket " + m_path + ": " + std::strerror(errno));
    if (::listen(m_fd.get(), 4) < 0) {
        int error = errno;
        ::unlink(m_path.c_str());
        errno = error;
        throw_errno("listen on " + m_path);
    }
}

UnixListener::~UnixListener()
{
    if (!m_path.empty())
        ::unlink(m_path.c_str());
}

ControlSocket::ControlSocket(std::string path, virtio::MmioTransport& transport, virtio::ConsoleDevice& console)
    : ControlSocket(UnixListener(std::move(path)), transport, console)
{
}

ControlSocket::ControlSocket(UnixListener listener, virtio::MmioTransport& transport, virtio::ConsoleDevice& console)
    : m_listener(std::move(listener)), m_transport(transport), m_console(console), m_refusal(busy_frame())
{
    m_epoll = FileDescriptor(::epoll_create1(EPOLL_CLOEXEC));
    m_wakeup = FileDescriptor(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!m_epoll.valid() || !m_wakeup.valid())
        throw_errno("epoll/eventfd for the control socket");
    epoll_set(m_epoll.get(), EPOLL_CTL_ADD, m_wakeup.get(), EPOLLIN, kWakeupTag);
    epoll_set(m_epoll.get(), EPOLL_CTL_ADD, m_listener.fd(), EPOLLIN, kListenerTag);
    int wakeup = m_wakeup.get();
    std::lock_guard guard(m_transport.lock());
    m_console.set_host_wakeup([wakeup] {
        // From the I/O thread itself (an ioeventfd notification, bytes from the client) the wake-up
        // is not needed: run() looks at both buffers after every batch of events.
        if (t_on_control_io_thread)
            return;
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t ignored = ::write(wakeup, &one, sizeof one);
    });
}

ControlSocket::~ControlSocket()
{
    m_stopping = true;
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = ::write(m_wakeup.get(), &one, sizeof one);
    if (m_thread.joinable())
        m_thread.join();
    {
        std::lock_guard guard(m_transport.lock());
        m_console.set_host_wakeup(nullptr);
    }
    // m_listener removes the socket path.
}

void ControlSocket::watch_queue_notifier(int eventfd, std::uint32_t queue)
{
    epoll_set(m_epoll.get(), EPOLL_CTL_ADD, eventfd, EPOLLIN, kNotifierTag + m_notifiers.size());
    m_notifiers.push_back({eventfd, queue});
}

void ControlSocket::start()
{
    // Signals (SIGINT, SIGTERM) must reach the vCPU thread, whose KVM_RUN they interrupt: the I/O
    // thread starts with every signal blocked, inherited from the mask set around its creation.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    m_thread = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void ControlSocket::update_interest()
{
    // The listener stays registered: a second client is accepted to be refused, not left waiting.
    if (!m_client.valid())
        return;
    std::uint32_t events = 0;
    {
        std::lock_guard guard(m_transport.lock());
        if (m_console.host_input_space() > 0)
            events |= EPOLLIN;
        if (m_console.pending_for_host() > 0)
            events |= EPOLLOUT;
    }
    if (events != m_client_events)
        epoll_set(m_epoll.get(), EPOLL_CTL_MOD, m_client.get(), events, m_client_tag);
    m_client_events = events;
}

void ControlSocket::run()
{
    t_on_control_io_thread = true;
    epoll_event events[8];
    while (!m_stopping) {
        try {
            update_interest();
        } catch (const HostFailure& error) {
            std::fprintf(stderr, "delos-vmm: control socket: %s\n", error.what());
            drop_client();
        }
        int count = ::epoll_wait(m_epoll.get(), events, 8, -1);
        if (count < 0 && errno != EINTR) {
            std::fprintf(stderr, "delos-vmm: control socket: epoll_wait: %s\n", std::strerror(errno));
            return;
        }
        for (int i = 0; i < count && !m_stopping; ++i) {
            std::uint64_t tag = events[i].data.u64;
            std::uint32_t flags = events[i].events;
            if (tag == kWakeupTag) {
                std::uint64_t value;
                [[maybe_unused]] ssize_t ignored = ::read(m_wakeup.get(), &value, sizeof value);
            } else if (tag == kListenerTag) {
                accept_client();
            } else if (tag >= kClientTag) {
                if (tag != m_client_tag || !m_client.valid())
                    continue;  // for a client that is gone
                if (flags & EPOLLOUT)
                    write_to_client();
                if (m_client.valid() && (flags & EPOLLIN))
                    read_from_client();
                // Gone (after reading what it left, if there was room): its pending bytes go with it.
                if (m_client.valid() && (flags & (EPOLLHUP | EPOLLERR)))
                    drop_client();
            } else if (tag >= kRefusedTag) {
                drain_refused_client(static_cast<int>(tag - kRefusedTag));
            } else if (tag >= kNotifierTag && tag - kNotifierTag < m_notifiers.size()) {
                const Notifier& notifier = m_notifiers[tag - kNotifierTag];
                std::uint64_t value;
                if (::read(notifier.fd, &value, sizeof value) == sizeof value)
                    m_transport.notify_queue(notifier.queue, value);
            }
        }
        // What the guest just sent goes out now, not after another epoll round for EPOLLOUT (the
        // socket is non-blocking; a full one leaves the rest to EPOLLOUT as before).
        if (m_client.valid() && !m_stopping) {
            bool pending;
            {
                std::lock_guard guard(m_transport.lock());
                pending = m_console.pending_for_host() > 0;
            }
            if (pending)
                write_to_client();
        }
    }
}

void ControlSocket::accept_client()
{
    int fd = ::accept4(m_listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;  // EAGAIN, or the client left already
    // A client that closed just before this one connected may not have had its hang-up handled
    // yet (both events in one epoll batch, the listener's first): it has left, so this one is next.
    if (m_client.valid() && client_has_hung_up())
        drop_client();
    if (m_client.valid()) {
        refuse_client(FileDescriptor(fd));
        return;
    }
    m_client = FileDescriptor(fd);
    ++m_clients_accepted;
    m_client_tag = kClientTag + m_clients_accepted.load();
    epoll_set(m_epoll.get(), EPOLL_CTL_ADD, fd, 0, m_client_tag);
    m_client_events = 0;
    std::lock_guard guard(m_transport.lock());
    m_console.host_connected();
}

bool ControlSocket::client_has_hung_up() const
{
    pollfd state{m_client.get(), POLLIN, 0};
    return ::poll(&state, 1, 0) > 0 && (state.revents & (POLLHUP | POLLERR));
}

void ControlSocket::refuse_client(FileDescriptor client)
{
    ++m_clients_refused;
    // A fresh socket's buffer takes the small frame whole; if not, the client gets what fits.
    [[maybe_unused]] ssize_t sent = ::send(client.get(), m_refusal.data(), m_refusal.size(), MSG_NOSIGNAL);
    ::shutdown(client.get(), SHUT_WR);  // then end of file
    if (m_refused.size() >= kMaxRefusedClients) {
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, m_refused.front().get(), nullptr);
        m_refused.erase(m_refused.begin());
    }
    epoll_set(m_epoll.get(), EPOLL_CTL_ADD, client.get(), EPOLLIN, kRefusedTag + static_cast<std::uint64_t>(client.get()));
    m_refused.push_back(std::move(client));
}

void ControlSocket::drain_refused_client(int fd)
{
    auto refused = std::ranges::find_if(m_refused, [fd](const FileDescriptor& client) { return client.get() == fd; });
    if (refused == m_refused.end())
        return;  // closed earlier in this batch of events
    std::uint8_t discard[4096];
    ssize_t n = ::recv(fd, discard, sizeof discard, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {  // it closed (or failed): done with it
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
        m_refused.erase(refused);
    }
}

void ControlSocket::read_from_client()
{
    std::size_t space;
    {
        std::lock_guard guard(m_transport.lock());
        space = m_console.host_input_space();
    }
    if (space == 0)
        return;
    std::uint8_t buffer[kIoChunk];
    ssize_t n = ::recv(m_client.get(), buffer, std::min(space, sizeof buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop_client();
        return;
    }
    // Only this thread adds to the console's input buffer, so all `n` bytes fit.
    std::lock_guard guard(m_transport.lock());
    m_console.accept_from_host({buffer, static_cast<std::size_t>(n)});
}

void ControlSocket::write_to_client()
{
    std::uint8_t buffer[kIoChunk];
    std::size_t count;
    {
        std::lock_guard guard(m_transport.lock());
        count = m_console.peek_for_host(buffer);
    }
    if (count == 0)
        return;
    // Only this thread consumes the output buffer, so the peeked bytes stay at its front.
    ssize_t n = ::send(m_client.get(), buffer, count, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        drop_client();
        return;
    }
    std::lock_guard guard(m_transport.lock());
    m_console.consume_for_host(static_cast<std::size_t>(n));
}

void ControlSocket::drop_client()
{
    if (!m_client.valid())
        return;
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, m_client.get(), nullptr);
    m_client.reset();
    std::lock_guard guard(m_transport.lock());
    m_console.host_disconnected();
}

} // namespace delos::vmm
