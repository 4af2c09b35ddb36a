// libvirt_discovery.h: finds Delos guests among libvirt's running domains (a virtio-serial
// channel named org.delos.control.0 on a unix socket) and keeps one attached VM per domain in
// delosd's table: added when libvirt reports the channel connected, kept while the domain runs
// with that channel (the link retries a disconnected one), removed when it stops or loses it.
// Follows libvirt's domain lifecycle events (a process-wide libvirt event loop thread): a start
// or stop makes the discovery thread look at once, and while a started domain's guest has not
// opened its channel yet (libvirt sends no event for that) it looks again every 200 ms. The
// interval poll stays as the fallback (a lost event, a libvirtd restart).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "abi/channel_limits.h"

namespace delos::controller {

class ControllerCore;

inline constexpr const char* kDelosChannelName = channel::kControlPortName;

// What a domain's XML says about its Delos control channel.
struct DelosChannel {
    std::string socket_path;  // <source mode='bind' path='...'/>
    bool connected = false;   // <target ... state='connected'/>: the guest has opened the port
};

// Parses a domain XML (libvirt's, but treated as untrusted text): the first unix channel whose
// virtio target is named org.delos.control.0 with an absolute socket path; nullopt if none.
std::optional<DelosChannel> find_delos_channel(const std::string& domain_xml);

// A domain name as a delosd VM name ([a-z0-9][a-z0-9_-]{0,62}): lower case, other bytes '-'.
std::string vm_name_for_domain(const std::string& domain);

struct DiscoverySettings {
    std::string uri = "qemu:///system";
    std::chrono::milliseconds interval{2000};
    std::string domain_pattern = "*";  // fnmatch(3) glob over domain names
    bool lifecycle_events = true;       // false: poll only
    // After a start event: how often, and for how long at most, to look for its channel opening.
    std::chrono::milliseconds settle_interval{200};
    std::chrono::milliseconds settle_window{std::chrono::minutes(5)};
};

// A lifecycle event's kind (virDomainEventType) as a word for the log.
const char* lifecycle_event_name(int event);

class LibvirtDiscovery {
public:
    LibvirtDiscovery(ControllerCore& core, DiscoverySettings settings);
    ~LibvirtDiscovery();  // stops the poller (the discovered VMs stay in the table and store)
    LibvirtDiscovery(const LibvirtDiscovery&) = delete;
    LibvirtDiscovery& operator=(const LibvirtDiscovery&) = delete;

    // Called from libvirt's event loop thread (through a shared sink, see the .cpp).
    void on_lifecycle_event(const std::string& domain, int event);

    struct EventSink;  // what libvirt's event thread holds (libvirt_discovery.cpp)

private:
    void run();
    void poll_once();
    void register_events();
    void drop_connection();
    void reconcile(const std::map<std::string, std::pair<std::string, DelosChannel>>& found);

    ControllerCore& m_core;
    DiscoverySettings m_settings;
    void* m_connection = nullptr;  // virConnectPtr, only touched by the poller thread
    int m_event_callback = -1;      // virConnectDomainEventRegisterAny's id on m_connection
    std::shared_ptr<EventSink> m_sink;
    bool m_unsettled = false;       // the last look found a Delos domain whose channel is not connected yet
    std::string m_last_error;      // logged once per streak
    std::map<std::string, std::string> m_warned_names;  // VM name clashes already logged
    std::mutex m_mutex;
    std::condition_variable m_wakeup;
    bool m_stopping = false;
    bool m_look_now = false;                                // an event came: look without waiting
    std::chrono::steady_clock::time_point m_settle_until{};  // fast looks until then (a domain started)
    std::thread m_thread;
};

} // namespace delos::controller
