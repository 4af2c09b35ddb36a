// libvirt_discovery.cpp: libvirt discovery behind delosd --libvirt-uri: lifecycle events and polls (see the header).
#include "libvirt_discovery.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <fnmatch.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "controller_core.h"
#include "daemon_log.h"

namespace delos::controller {

namespace {

bool named(const xmlNode* node, const char* name)
{
    return node->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(node->name), name) == 0;
}

std::string attribute(const xmlNode* node, const char* name)
{
    xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
    if (!value)
        return {};
    std::string text(reinterpret_cast<const char*>(value));
    xmlFree(value);
    return text;
}

const xmlNode* child(const xmlNode* parent, const char* name)
{
    for (const xmlNode* node = parent->children; node; node = node->next) {
        if (named(node, name))
            return node;
    }
    return nullptr;
}

void ignore_libvirt_error(void*, virErrorPtr) {}  // errors are read with virGetLastErrorMessage

std::string libvirt_error() { return virGetLastErrorMessage(); }

// libvirt's default event loop, once per process (it is global to libvirt): domain events and
// keepalives are dispatched from it. Registered before any connection opens (discovery opens
// the only ones delosd has). False if libvirt refused it: discovery then only polls.
bool start_event_loop()
{
    static std::once_flag once;
    static bool running = false;
    std::call_once(once, [] {
        if (virEventRegisterDefaultImpl() != 0) {
            log_line("warn", "libvirt event loop unavailable; discovery polls only", {{"error", libvirt_error()}});
            return;
        }
        // Lives as long as the process: libvirt's loop has no stop, and it idles in poll(2).
        std::thread([] {
            for (;;) {
                if (virEventRunDefaultImpl() < 0)
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }).detach();
        running = true;
    });
    return running;
}

} // namespace

// What libvirt's event thread holds: the discovery to wake, cleared (under the mutex) before
// the discovery goes, so a callback that is already running cannot reach a destroyed object.
struct LibvirtDiscovery::EventSink {
    std::mutex mutex;
    LibvirtDiscovery* owner = nullptr;
};

namespace {

int on_domain_lifecycle(virConnectPtr, virDomainPtr domain, int event, int, void* opaque)
{
    auto& sink = *static_cast<std::shared_ptr<LibvirtDiscovery::EventSink>*>(opaque);
    const char* name = domain ? virDomainGetName(domain) : nullptr;
    std::lock_guard lock(sink->mutex);
    if (sink->owner && name)
        sink->owner->on_lifecycle_event(name, event);
    return 0;
}

void free_event_sink(void* opaque) { delete static_cast<std::shared_ptr<LibvirtDiscovery::EventSink>*>(opaque); }

} // namespace

const char* lifecycle_event_name(int event)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED: return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED: return "undefined";
    case VIR_DOMAIN_EVENT_STARTED: return "started";
    case VIR_DOMAIN_EVENT_SUSPENDED: return "suspended";
    case VIR_DOMAIN_EVENT_RESUMED: return "resumed";
    case VIR_DOMAIN_EVENT_STOPPED: return "stopped";
    case VIR_DOMAIN_EVENT_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_EVENT_PMSUSPENDED: return "pmsuspended";
    case VIR_DOMAIN_EVENT_CRASHED: return "crashed";
    default: return "unknown";
    }
}

std::optional<DelosChannel> find_delos_channel(const std::string& domain_xml)
{
    if (domain_xml.empty() || domain_xml.size() > (16u << 20))
        return std::nullopt;
    // No network, no entity substitution, no DTD loading: the text is only read.
    xmlDoc* document = xmlReadMemory(domain_xml.data(), static_cast<int>(domain_xml.size()), "domain.xml", nullptr,
                                     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!document)
        return std::nullopt;
    std::optional<DelosChannel> found;
    const xmlNode* root = xmlDocGetRootElement(document);
    const xmlNode* devices = root && named(root, "domain") ? child(root, "devices") : nullptr;
    for (const xmlNode* node = devices ? devices->children : nullptr; node && !found; node = node->next) {
        if (!named(node, "channel") || attribute(node, "type") != "unix")
            continue;
        const xmlNode* target = child(node, "target");
        const xmlNode* source = child(node, "source");
        if (!target || !source || attribute(target, "type") != "virtio" || attribute(target, "name") != kDelosChannelName)
            continue;
        std::string path = attribute(source, "path");
        if (path.empty() || path[0] != '/' || path.size() >= 108 || path.find('\0') != std::string::npos)
            continue;
        found = DelosChannel{path, attribute(target, "state") == "connected"};
    }
    xmlFreeDoc(document);
    return found;
}

std::string vm_name_for_domain(const std::string& domain)
{
    std::string name;
    for (char c : domain.substr(0, 63)) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        name += ok ? c : '-';
    }
    if (name.empty() || name[0] == '_' || name[0] == '-')
        name = name.empty() ? "domain" : "d" + name.substr(0, 62);
    return name;
}

LibvirtDiscovery::LibvirtDiscovery(ControllerCore& core, DiscoverySettings settings)
    : m_core(core), m_settings(std::move(settings)), m_sink(std::make_shared<EventSink>())
{
    virSetErrorFunc(nullptr, ignore_libvirt_error);  // no libvirt lines on delosd's stderr
    if (m_settings.lifecycle_events && !start_event_loop())
        m_settings.lifecycle_events = false;
    m_sink->owner = this;
    log_line("info", "libvirt discovery on",
             {{"uri", m_settings.uri}, {"interval_ms", std::to_string(m_settings.interval.count())},
              {"domains", m_settings.domain_pattern}, {"lifecycle_events", m_settings.lifecycle_events ? "on" : "off"}});
    m_thread = std::thread([this] { run(); });
}

LibvirtDiscovery::~LibvirtDiscovery()
{
    {
        std::lock_guard lock(m_sink->mutex);  // no callback reaches this object from here on
        m_sink->owner = nullptr;
    }
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wakeup.notify_all();
    m_thread.join();
    drop_connection();
}

void LibvirtDiscovery::on_lifecycle_event(const std::string& domain, int event)
{
    if (::fnmatch(m_settings.domain_pattern.c_str(), domain.c_str(), 0) != 0)
        return;
    log_line("info", "libvirt domain event", {{"domain", domain}, {"event", lifecycle_event_name(event)}});
    {
        std::lock_guard lock(m_mutex);
        m_look_now = true;
        // The guest opens its channel some time after the start; libvirt sends no event for that.
        if (event == VIR_DOMAIN_EVENT_STARTED || event == VIR_DOMAIN_EVENT_RESUMED)
            m_settle_until = std::chrono::steady_clock::now() + m_settings.settle_window;
    }
    m_wakeup.notify_all();
}

void LibvirtDiscovery::drop_connection()
{
    auto connection = static_cast<virConnectPtr>(m_connection);
    if (!connection)
        return;
    if (m_event_callback >= 0)
        virConnectDomainEventDeregisterAny(connection, m_event_callback);  // fails harmlessly on a dead connection
    m_event_callback = -1;
    virConnectClose(connection);
    m_connection = nullptr;
}

void LibvirtDiscovery::register_events()
{
    auto connection = static_cast<virConnectPtr>(m_connection);
    if (!m_settings.lifecycle_events || !connection || m_event_callback >= 0)
        return;
    auto* opaque = new std::shared_ptr<EventSink>(m_sink);
    int id = virConnectDomainEventRegisterAny(connection, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_domain_lifecycle), opaque, free_event_sink);
    if (id < 0) {
        // Not freed: whether libvirt called free_event_sink on the failure is not documented,
        // and a small leak once per connection beats a double free.
        log_line("warn", "libvirt lifecycle events refused; discovery polls every interval",
                 {{"uri", m_settings.uri}, {"error", libvirt_error()}});
        return;
    }
    m_event_callback = id;
    // Keepalives (through the event loop) find a libvirtd that went away: the next look reopens.
    virConnectSetKeepAlive(connection, 5, 3);
}

void LibvirtDiscovery::run()
{
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        m_look_now = false;
        lock.unlock();
        try {
            poll_once();
        } catch (const std::exception& error) {
            log_line("warn", "libvirt discovery failed", {{"uri", m_settings.uri}, {"error", error.what()}});
        }
        lock.lock();
        auto wait = m_settings.interval;
        if (m_unsettled && std::chrono::steady_clock::now() < m_settle_until)
            wait = std::min(wait, m_settings.settle_interval);
        m_wakeup.wait_for(lock, wait, [&] { return m_stopping || m_look_now; });
    }
}

void LibvirtDiscovery::poll_once()
{
    auto failed = [&](const std::string& what) {
        std::string error = what + ": " + libvirt_error();
        if (error != m_last_error)
            log_line("warn", "libvirt discovery cannot list domains; retrying",
                     {{"uri", m_settings.uri}, {"error", error}});
        m_last_error = error;
    };
    auto connection = static_cast<virConnectPtr>(m_connection);
    if (connection && virConnectIsAlive(connection) != 1) {
        drop_connection();
        connection = nullptr;
    }
    if (!connection) {
        // Read-only: discovery lists domains and reads their XML, nothing more (events included).
        connection = virConnectOpenReadOnly(m_settings.uri.c_str());
        if (!connection)
            return failed("cannot open " + m_settings.uri);
        m_connection = connection;
        register_events();
    }
    virDomainPtr* domains = nullptr;
    int count = virConnectListAllDomains(connection, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (count < 0)
        return failed("virConnectListAllDomains");
    if (!m_last_error.empty())
        log_line("info", "libvirt discovery connected", {{"uri", m_settings.uri}});
    m_last_error.clear();
    // domain name -> (VM name, channel), for running domains with a Delos channel.
    std::map<std::string, std::pair<std::string, DelosChannel>> found;
    m_unsettled = false;
    for (int i = 0; i < count; ++i) {
        const char* name = virDomainGetName(domains[i]);
        char* xml = virDomainGetXMLDesc(domains[i], 0);
        if (name && xml && ::fnmatch(m_settings.domain_pattern.c_str(), name, 0) == 0) {
            if (auto channel = find_delos_channel(xml)) {
                found[name] = {vm_name_for_domain(name), *channel};
                m_unsettled |= !channel->connected;
            }
        }
        std::free(xml);
        virDomainFree(domains[i]);
    }
    std::free(domains);
    reconcile(found);
}

void LibvirtDiscovery::reconcile(const std::map<std::string, std::pair<std::string, DelosChannel>>& found)
{
    std::map<std::string, v1::VmSpec> known;  // VM name -> spec, for VMs this URI discovered
    std::set<std::string> taken;              // every VM name in the table
    for (const v1::Vm& vm : m_core.list_vms()) {
        taken.insert(vm.spec().name());
        if (!vm.spec().libvirt_domain().empty() && vm.spec().libvirt_uri() == m_settings.uri)
            known[vm.spec().name()] = vm.spec();
    }
    std::set<std::string> wanted;
    for (const auto& [domain, entry] : found) {
        const auto& [vm_name, channel] = entry;
        auto it = known.find(vm_name);
        if (it != known.end() && it->second.libvirt_domain() == domain && it->second.control_socket() == channel.socket_path) {
            wanted.insert(vm_name);  // attached already; a disconnected channel is the link's to retry
            continue;
        }
        if (!channel.connected)
            continue;  // not ready: the guest has not opened its port (yet, or since a reboot)
        if (it == known.end() && taken.count(vm_name)) {
            if (m_warned_names[vm_name] != domain)
                log_line("warn", "libvirt domain not attached: a VM of that name exists already",
                         {{"domain", domain}, {"vm", vm_name}});
            m_warned_names[vm_name] = domain;
            continue;
        }
        if (it != known.end()) {
            m_core.delete_vm(vm_name);  // the domain now has another socket (or is another domain)
            known.erase(it);
        }
        v1::VmSpec spec;
        spec.set_name(vm_name);
        spec.set_runner(v1::RUNNER_ATTACH);
        spec.set_control_socket(channel.socket_path);
        spec.set_libvirt_domain(domain);
        spec.set_libvirt_uri(m_settings.uri);
        try {
            m_core.adopt_discovered_vm(spec);
            wanted.insert(vm_name);
            log_line("info", "libvirt domain attached",
                     {{"domain", domain}, {"vm", vm_name}, {"socket", channel.socket_path}});
        } catch (const std::exception& error) {
            log_line("warn", "libvirt domain not attached", {{"domain", domain}, {"error", error.what()}});
        }
    }
    for (const auto& [vm_name, spec] : known) {
        if (wanted.count(vm_name))
            continue;
        log_line("info", "libvirt domain gone (stopped, or no Delos channel): removing its VM",
                 {{"domain", spec.libvirt_domain()}, {"vm", vm_name}});
        try {
            m_core.delete_vm(vm_name);
        } catch (const std::exception& error) {
            log_line("warn", "cannot remove a discovered VM", {{"vm", vm_name}, {"error", error.what()}});
        }
    }
}

} // namespace delos::controller
