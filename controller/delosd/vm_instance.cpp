// vm_instance.cpp: see vm_instance.h.
#include "vm_instance.h"

#include "abi/channel_limits.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "daemon_log.h"
#include "qmp_client.h"
#include "runner_process.h"

namespace delos::controller {

namespace {

int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string describe_exit(int status)
{
    if (WIFEXITED(status))
        return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    return "ended (status " + std::to_string(status) + ")";
}

} // namespace

bool is_managed(v1::Runner runner)
{
    return runner == v1::RUNNER_VMM || runner == v1::RUNNER_QEMU || runner == v1::RUNNER_COMMAND || runner == v1::RUNNER_CLONE;
}

std::vector<std::string> VmInstance::runner_argv(const v1::VmSpec& spec, const RunnerSettings& settings,
                                                 const std::string& control_socket, const std::string& serial_log)
{
    std::uint32_t memory = spec.memory_mib() ? spec.memory_mib() : 64;
    std::vector<std::string> argv;
    switch (spec.runner()) {
    case v1::RUNNER_VMM:
        argv = {settings.vmm_path, "--memory", std::to_string(memory) + "M", "--control-socket", control_socket};
        if (!spec.cmdline().empty())
            argv.insert(argv.end(), {"--cmdline", spec.cmdline()});
        for (const std::string& module : spec.modules())
            argv.insert(argv.end(), {"--module", module});
        argv.push_back(spec.kernel());
        break;
    case v1::RUNNER_QEMU: {
        bool kvm = ::access("/dev/kvm", R_OK | W_OK) == 0;
        argv = {settings.qemu_path, "-accel", kvm ? "kvm" : "tcg", "-M", "microvm,acpi=off", "-m", std::to_string(memory) + "M",
                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-kernel", spec.kernel()};
        if (!spec.cmdline().empty())
            argv.insert(argv.end(), {"-append", spec.cmdline()});
        if (!spec.modules().empty())
            argv.insert(argv.end(), {"-initrd", spec.modules(0)});
        // acpi=off: only then does microvm put virtio_mmio.device= on the command line;
        // force-legacy=false: the guest drives virtio 1.x (version 2) MMIO only.
        argv.insert(argv.end(), {"-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "file:" + serial_log,
                                 "-monitor", "none", "-global", "virtio-mmio.force-legacy=false", "-chardev",
                                 "socket,id=delosctl,path=" + control_socket + ",server=on,wait=off", "-device",
                                 "virtio-serial-device", "-device",
                                 std::string("virtserialport,chardev=delosctl,name=") + channel::kControlPortName});
        break;
    }
    case v1::RUNNER_COMMAND:
        for (std::string word : spec.command()) {
            for (auto at = word.find("{control_socket}"); at != std::string::npos; at = word.find("{control_socket}"))
                word.replace(at, std::strlen("{control_socket}"), control_socket);
            argv.push_back(word);
        }
        break;
    default:
        break;
    }
    return argv;
}

VmInstance::VmInstance(StoredVm stored, const RunnerSettings& settings, FaultStore& store, VmObserver& observer)
    : m_name(stored.spec.name()), m_spec(stored.spec), m_settings(settings), m_store(store), m_observer(observer),
      m_dir(settings.state_dir + "/vms/" + stored.spec.name()), m_boot_id(stored.boot_id),
      m_last_uptime_ns(stored.last_uptime_ns), m_restarts(stored.restarts), m_last_exit(stored.last_exit),
      m_created_unix_ms(stored.created_unix_ms)
{
    m_stop_requested = stored.stopped;
    m_state = stored.stopped ? v1::VM_STATE_STOPPED : v1::VM_STATE_STARTING;
    m_control_socket = m_spec.runner() == v1::RUNNER_ATTACH ? m_spec.control_socket() : m_dir + "/control.sock";
    std::filesystem::create_directories(m_dir);
    GuestLink::Handlers handlers;
    handlers.connected = [this](const v1::HelloReply& hello) {
        note_kernel_version(hello.kernel_version());
        set_state(v1::VM_STATE_RUNNING);
        m_observer.vm_event(event(v1::EVENT_VM_CONNECTED, "channel session open, guest " + hello.kernel_version()));
    };
    handlers.disconnected = [this](const std::string& reason) {
        {
            std::lock_guard lock(m_mutex);
            if (m_state == v1::VM_STATE_RUNNING)
                m_state = v1::VM_STATE_DISCONNECTED;
        }
        m_observer.vm_state_changed();
        m_observer.vm_event(event(v1::EVENT_VM_DISCONNECTED, "channel lost: " + reason));
    };
    handlers.event = [this](const v1::Event& guest_event) { m_observer.guest_event(*this, guest_event); };
    m_link = std::make_unique<GuestLink>(m_name, std::move(handlers), settings.reply_timeout);
}

VmInstance::~VmInstance()
{
    {
        std::lock_guard lock(m_mutex);
        m_destroying = true;
        if (m_pid > 0)
            ::kill(-m_pid, SIGKILL);
    }
    m_wakeup.notify_all();
    if (m_supervisor.joinable())
        m_supervisor.join();
    m_link.reset();
}

v1::EventRecord VmInstance::event(v1::EventKind kind, std::string message)
{
    v1::EventRecord record;
    record.set_vm(m_name);
    record.set_kind(kind);
    record.set_message(std::move(message));
    std::lock_guard lock(m_mutex);
    record.set_boot_id(m_boot_id);
    return record;
}

void VmInstance::set_state(v1::VmState state)
{
    {
        std::lock_guard lock(m_mutex);
        m_state = state;
    }
    m_observer.vm_state_changed();
}

v1::VmState VmInstance::state()
{
    std::lock_guard lock(m_mutex);
    return m_state;
}

void VmInstance::note_kernel_version(const std::string& version)
{
    std::lock_guard lock(m_mutex);
    m_kernel_version = version;
}

void VmInstance::start()
{
    {
        std::lock_guard lock(m_mutex);
        if (m_stop_requested)
            return;
    }
    if (is_managed(m_spec.runner())) {
        m_supervisor = std::thread([this] { supervise(); });
    } else {
        if (m_boot_id == 0) {
            std::uint64_t boot = m_store.new_boot(m_name);
            std::lock_guard lock(m_mutex);
            m_boot_id = boot;
        }
        set_state(v1::VM_STATE_STARTING);
        m_link->set_socket(m_control_socket);
    }
}

void VmInstance::stop(std::chrono::milliseconds grace)
{
    if (!is_managed(m_spec.runner())) {
        {
            std::lock_guard lock(m_mutex);
            m_stop_requested = true;
        }
        m_link->set_socket("");
        set_state(v1::VM_STATE_STOPPED);
        m_store.set_run_state(m_name, true, m_restarts, m_last_exit);
        m_observer.vm_event(event(v1::EVENT_VM_STOPPED, "detached by request"));
        return;
    }
    pid_t pid;
    {
        std::lock_guard lock(m_mutex);
        m_stop_requested = true;
        pid = m_pid;
        if (pid > 0)
            ::kill(-pid, SIGTERM);
    }
    m_wakeup.notify_all();
    auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
        {
            std::lock_guard lock(m_mutex);
            if (m_pid == 0 || m_pid != pid)
                break;
            if (std::chrono::steady_clock::now() > deadline)
                ::kill(-pid, SIGKILL);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (m_supervisor.joinable())
        m_supervisor.join();
    if (state() != v1::VM_STATE_STOPPED) {  // stopped while in back-off or exited
        set_state(v1::VM_STATE_STOPPED);
        m_store.set_run_state(m_name, true, m_restarts, m_last_exit);
        m_observer.vm_event(event(v1::EVENT_VM_STOPPED, "stopped by request"));
    }
}

std::vector<std::string> VmInstance::clone_argv_for_start(std::shared_ptr<CloneTemplate>& from, int& incoming_fd)
{
    if (!m_settings.clone_templates)
        throw std::runtime_error("this delosd has no clone templates");
    from = m_settings.clone_templates->acquire(m_spec, [this](const std::string& message) {
        m_observer.vm_event(event(v1::EVENT_CLONE_TEMPLATE, message));
        log_line("info", "clone template", {{"vm", m_name}, {"message", message}});
    });
    incoming_fd = ::open(from->state_path().c_str(), O_RDONLY | O_CLOEXEC);
    if (incoming_fd < 0)
        throw std::runtime_error("cannot open the template's saved state " + from->state_path() + ": " + std::strerror(errno));
    // The clone's own VM generation: the guest draws a fresh boot id when it sees a new one.
    std::uint64_t random = 0;
    std::ifstream("/dev/urandom", std::ios::binary).read(reinterpret_cast<char*>(&random), sizeof random);
    char generation[64];
    std::uint64_t boot;
    {
        std::lock_guard lock(m_mutex);
        boot = m_boot_id;
    }
    // [A-Za-z0-9._-], at most 64 characters (the guest refuses anything else): 24 + 2 + 20 + 1 + 16.
    std::snprintf(generation, sizeof generation, "%s-b%llu-%016llx", m_name.substr(0, 24).c_str(),
                  static_cast<unsigned long long>(boot), static_cast<unsigned long long>(random));
    std::filesystem::remove(m_dir + "/qmp.sock");
    {
        std::lock_guard lock(m_mutex);
        m_clone_template = from->key;
    }
    return m_settings.clone_templates->clone_argv(m_spec, *from, m_control_socket, m_dir + "/serial.log", m_dir + "/qmp.sock",
                                                  generation);
}

void VmInstance::restore_clone(pid_t pid)
{
    QmpClient qmp(m_dir + "/qmp.sock", std::chrono::steady_clock::now() + std::chrono::seconds(60), [&] {
        std::lock_guard lock(m_mutex);
        siginfo_t info{};
        bool ended = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
        return !ended && !m_stop_requested && !m_destroying;
    });
    qmp.command(R"({"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}})");
    // fd 3 is the template's saved device state; QEMU runs the guest when it is loaded (a failed
    // load ends QEMU, which the supervisor records with QEMU's message).
    qmp.command(R"({"execute":"migrate-incoming","arguments":{"uri":"fd:3"}})");
}

void VmInstance::supervise()
{
    std::uint32_t consecutive = 0;
    std::chrono::milliseconds grace(3000);
    for (;;) {
        {
            std::lock_guard lock(m_mutex);
            if (m_destroying || m_stop_requested)
                break;
        }
        std::uint64_t boot = m_store.new_boot(m_name);
        {
            std::lock_guard lock(m_mutex);
            m_boot_id = boot;
            m_last_uptime_ns = 0;
            m_guest_boot_id.clear();  // a new process: its first Ready says its boot id
        }
        std::filesystem::remove(m_control_socket);
        std::string log_path = m_dir + "/console.log";
        std::shared_ptr<CloneTemplate> clone_from;
        int incoming_fd = -1;
        std::vector<std::string> argv;
        pid_t pid;
        try {
            argv = m_spec.runner() == v1::RUNNER_CLONE ? clone_argv_for_start(clone_from, incoming_fd)
                                                        : runner_argv(m_spec, m_settings, m_control_socket, m_dir + "/serial.log");
            pid = spawn_in_own_group(argv, log_path, incoming_fd);
        } catch (const std::exception& error) {
            if (incoming_fd >= 0)
                ::close(incoming_fd);
            std::string how = std::string("could not start: ") + error.what();
            m_observer.vm_event(event(v1::EVENT_VM_EXITED, how));
            log_line("warn", "guest could not start", {{"vm", m_name}, {"error", error.what()}});
            {
                std::lock_guard lock(m_mutex);
                m_last_exit = how;
            }
            set_state(v1::VM_STATE_EXITED);
            m_store.set_run_state(m_name, false, m_restarts, how);
            break;
        }
        if (incoming_fd >= 0)
            ::close(incoming_fd);
        auto started = std::chrono::steady_clock::now();
        {
            std::lock_guard lock(m_mutex);
            m_pid = pid;
        }
        set_state(v1::VM_STATE_STARTING);
        std::string command;
        for (const std::string& word : argv)
            command += (command.empty() ? "" : " ") + word;
        m_observer.vm_event(event(v1::EVENT_VM_STARTED, "started pid " + std::to_string(pid) + ": " + command));
        log_line("info", "guest started", {{"vm", m_name}, {"pid", std::to_string(pid)}});
        std::string start_error;
        if (clone_from) {
            try {
                restore_clone(pid);
            } catch (const std::exception& error) {
                start_error = std::string("restoring the clone failed: ") + error.what();
                ::kill(-pid, SIGKILL);
            }
            clone_from.reset();  // QEMU has its own mapping of the RAM file now
        }
        m_link->set_socket(m_control_socket);

        // Wait for the process, passing on a stop request (SIGTERM, then SIGKILL after the grace).
        int pidfd = open_pidfd(pid);
        bool term_sent = false;
        std::chrono::steady_clock::time_point kill_at;
        for (;;) {
            pollfd exited{pidfd, POLLIN, 0};
            int ready = pidfd >= 0 ? ::poll(&exited, 1, 50) : (std::this_thread::sleep_for(std::chrono::milliseconds(50)), 0);
            if (ready > 0)
                break;
            if (pidfd < 0) {
                int status;
                if (::waitpid(pid, &status, WNOHANG | WNOWAIT) == pid)
                    break;
            }
            std::lock_guard lock(m_mutex);
            if ((m_stop_requested || m_destroying) && !term_sent) {
                ::kill(-pid, m_destroying ? SIGKILL : SIGTERM);
                term_sent = true;
                kill_at = std::chrono::steady_clock::now() + grace;
            } else if (term_sent && std::chrono::steady_clock::now() > kill_at) {
                ::kill(-pid, SIGKILL);
            }
        }
        if (pidfd >= 0)
            ::close(pidfd);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        ::kill(-pid, SIGKILL);  // anything the runner left in its group
        m_link->set_socket("");
        auto ran = std::chrono::steady_clock::now() - started;

        std::string how = describe_exit(status);
        std::string report = tail_of(log_path, 2048);
        bool stopping;
        {
            std::lock_guard lock(m_mutex);
            m_pid = 0;
            m_last_exit = how;
            stopping = m_stop_requested || m_destroying;
        }
        v1::EventRecord exited = event(v1::EVENT_VM_EXITED, "guest process " + how);
        exited.set_detail(start_error.empty() ? report : start_error + "\n" + report);
        exited.set_exit_code(WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
        m_observer.vm_event(exited);  // stored durably before anyone is told
        log_line(stopping ? "info" : "warn", "guest ended", {{"vm", m_name}, {"how", how}});
        if (stopping) {
            set_state(v1::VM_STATE_STOPPED);
            {
                std::lock_guard lock(m_mutex);
                if (m_destroying)
                    break;
            }
            m_store.set_run_state(m_name, true, m_restarts, how);
            m_observer.vm_event(event(v1::EVENT_VM_STOPPED, "stopped by request"));
            break;
        }

        bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        v1::RestartPolicy policy = m_spec.restart() == v1::RESTART_UNSPECIFIED ? v1::RESTART_ON_FAILURE : m_spec.restart();
        bool restart = policy == v1::RESTART_ALWAYS || (policy == v1::RESTART_ON_FAILURE && failed);
        if (restart && m_spec.max_restarts() > 0 && m_restarts >= m_spec.max_restarts()) {
            restart = false;
            how += "; not restarted: max_restarts (" + std::to_string(m_spec.max_restarts()) + ") reached";
        }
        if (!restart) {
            set_state(v1::VM_STATE_EXITED);
            m_store.set_run_state(m_name, false, m_restarts, how);
            break;
        }
        if (ran > std::chrono::seconds(10))
            consecutive = 0;
        std::uint64_t initial = m_spec.backoff_initial_ms() ? m_spec.backoff_initial_ms() : 200;
        std::uint64_t most = m_spec.backoff_max_ms() ? m_spec.backoff_max_ms() : 30000;
        std::uint64_t delay = std::min<std::uint64_t>(most, initial << std::min<std::uint32_t>(consecutive, 20));
        ++consecutive;
        {
            std::lock_guard lock(m_mutex);
            ++m_restarts;
        }
        m_store.set_run_state(m_name, false, m_restarts, how);
        set_state(v1::VM_STATE_BACKOFF);
        m_observer.vm_event(event(v1::EVENT_VM_RESTARTING, "restart " + std::to_string(m_restarts) + " in "
                                                               + std::to_string(delay) + " ms"));
        std::unique_lock lock(m_mutex);
        m_wakeup.wait_for(lock, std::chrono::milliseconds(delay), [&] { return m_stop_requested || m_destroying; });
    }
}

std::uint64_t VmInstance::boot_for_event(const v1::Event& guest_event)
{
    // Only Ready (the first event of every connection) can start a new boot: other events may be
    // re-deliveries that carry the uptime of when they happened.
    // A snapshot clone keeps its template's uptime but says a new boot id in Ready: that is a
    // new boot too (the last id is kept in memory; after a delosd restart uptime alone decides).
    bool new_boot = false;
    const char* why = "the guest booted again (its uptime went back)";
    {
        std::lock_guard lock(m_mutex);
        std::string guest_boot = guest_event.ready().boot_id().substr(0, 64);  // hostile: bounded
        if (guest_event.has_ready() && guest_event.uptime_ns() < m_last_uptime_ns) {
            new_boot = true;
        } else if (guest_event.has_ready() && !guest_boot.empty() && !m_guest_boot_id.empty() && guest_boot != m_guest_boot_id) {
            new_boot = true;
            why = "the guest's boot id changed (a snapshot clone took a new identity)";
        } else {
            m_last_uptime_ns = std::max(m_last_uptime_ns, guest_event.uptime_ns());
        }
        if (guest_event.has_ready() && !guest_boot.empty())
            m_guest_boot_id = guest_boot;
    }
    if (new_boot) {
        std::uint64_t boot = m_store.new_boot(m_name);
        {
            std::lock_guard lock(m_mutex);
            m_boot_id = boot;
            m_last_uptime_ns = guest_event.uptime_ns();
        }
        m_observer.vm_event(event(v1::EVENT_NEW_BOOT, why));
    }
    if (guest_event.has_ready())
        m_store.set_last_uptime(m_name, guest_event.uptime_ns());
    std::lock_guard lock(m_mutex);
    return m_boot_id;
}

v1::Vm VmInstance::describe()
{
    v1::Vm vm;
    *vm.mutable_spec() = m_spec;
    std::lock_guard lock(m_mutex);
    vm.set_state(m_state);
    vm.set_boot_id(m_boot_id);
    vm.set_pid(m_pid);
    vm.set_restarts(m_restarts);
    vm.set_control_socket(m_control_socket);
    vm.set_kernel_version(m_kernel_version);
    vm.set_last_exit(m_last_exit);
    vm.set_created_unix_ms(m_created_unix_ms);
    vm.set_guest_boot_id(m_guest_boot_id);
    vm.set_clone_template(m_clone_template);
    return vm;
}

} // namespace delos::controller
