// vm_instance.h: one VM as delosd keeps it: its spec, its guest process (for the VMM, QEMU and
// command runners: started, watched, stopped and restarted by the restart policy with
// back-off, each exit recorded with the runner's own report) or the socket it attaches to,
// and its GuestLink.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clone_templates.h"
#include "fault_store.h"
#include "guest_link.h"

namespace delos::controller {

struct RunnerSettings {
    std::string state_dir;
    std::string vmm_path;   // delos-vmm
    std::string qemu_path;  // qemu-system-x86_64
    bool allow_command_runner = false;
    std::chrono::milliseconds reply_timeout{10000};
    std::shared_ptr<CloneTemplates> clone_templates;  // the clone runner's templates (STATE/templates)
};

// What a VmInstance tells the rest of delosd; called from the instance's threads.
class VmInstance;

class VmObserver {
public:
    virtual ~VmObserver() = default;
    virtual void vm_event(v1::EventRecord event) = 0;             // store it, count it
    virtual void guest_event(VmInstance& vm, const v1::Event& event) = 0;
    virtual void vm_state_changed() = 0;
};

class VmInstance {
public:
    VmInstance(StoredVm stored, const RunnerSettings& settings, FaultStore& store, VmObserver& observer);
    ~VmInstance();  // stops the guest process (if any) and the link
    VmInstance(const VmInstance&) = delete;
    VmInstance& operator=(const VmInstance&) = delete;

    const std::string& name() const { return m_name; }
    const v1::VmSpec& spec() const { return m_spec; }
    GuestLink& link() { return *m_link; }

    // Starts supervising (or attaching) unless the VM was stopped by request.
    void start();
    // SIGTERM, then SIGKILL after `grace`; no restart. Returns when the process has ended.
    void stop(std::chrono::milliseconds grace);
    v1::Vm describe();
    v1::VmState state();

    // Boot tracking for guests delosd did not start (and restarts it did not see): a Ready event
    // whose uptime is below the last uptime seen starts a new boot. Returns the boot id.
    std::uint64_t boot_for_event(const v1::Event& event);
    void note_kernel_version(const std::string& version);

    // The argv a runner starts, for a control socket path (exposed for tests).
    static std::vector<std::string> runner_argv(const v1::VmSpec& spec, const RunnerSettings& settings,
                                                const std::string& control_socket, const std::string& serial_log);

private:
    void supervise();
    // Clone runner: the template (built first if needed), argv, and the restore over QMP. Throws
    // with what failed; `start_error` then holds it for the exit event.
    std::vector<std::string> clone_argv_for_start(std::shared_ptr<CloneTemplate>& from, int& incoming_fd);
    void restore_clone(pid_t pid);
    void set_state(v1::VmState state);
    v1::EventRecord event(v1::EventKind kind, std::string message);

    std::string m_name;
    v1::VmSpec m_spec;
    RunnerSettings m_settings;
    FaultStore& m_store;
    VmObserver& m_observer;
    std::string m_dir;             // state-dir/vms/NAME
    std::string m_control_socket;

    std::mutex m_mutex;
    std::condition_variable m_wakeup;
    v1::VmState m_state = v1::VM_STATE_STARTING;
    bool m_stop_requested = false;
    bool m_destroying = false;
    pid_t m_pid = 0;
    std::uint64_t m_boot_id = 0;
    std::uint64_t m_last_uptime_ns = 0;
    std::string m_guest_boot_id;  // the boot id of the guest's last Ready, "" if none said one
    std::string m_clone_template; // key of the template the current clone runs from
    std::uint32_t m_restarts = 0;
    std::string m_last_exit;
    std::string m_kernel_version;
    std::int64_t m_created_unix_ms = 0;

    std::unique_ptr<GuestLink> m_link;
    std::thread m_supervisor;
};

bool is_managed(v1::Runner runner);

} // namespace delos::controller
