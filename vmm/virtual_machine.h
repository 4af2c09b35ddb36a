// virtual_machine.h: one VM built from a VmConfig: KVM objects, guest RAM, devices, and the vCPU loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "boot_timer.h"
#include "debug_exit.h"
#include "exit_counters.h"
#include "file_descriptor.h"
#include "guest_memory.h"
#include "io_bus.h"
#include "kvm.h"
#include "serial_16550.h"
#include "vm_config.h"

namespace delos::vmm {

struct RunOutcome {
    enum class Kind { GuestExit, GuestCrash, Interrupted } kind;
    int exit_code;
    std::string reason;  // for crashes: the exit reason and a register dump
};

class VirtualMachine {
public:
    // Builds the VM in boot order: KVM, RAM, kernel, modules, start_info, devices, vCPU.
    VirtualMachine(const VmConfig& config, BootTimer::Clock::time_point vmm_start);

    RunOutcome run();

    const ExitCounters& exit_counters() const { return m_exits; }
    const GuestMemory& memory() const { return m_memory; }
    std::optional<double> boot_ms() const { return m_boot_timer.ready_after_ms(); }
    void flush_console() { m_serial->flush(); }

private:
    RunOutcome handle_io_exit();

    Kvm m_kvm;
    Vm m_vm;
    GuestMemory m_memory;
    FileDescriptor m_serial_file;
    std::unique_ptr<Serial16550> m_serial;
    DebugExit m_debug_exit;
    BootTimer m_boot_timer;
    IoBus m_io_bus;
    std::optional<Vcpu> m_vcpu;
    ExitCounters m_exits;
};

// Asks a running VM to stop (from a signal handler): KVM_RUN returns and run() reports Interrupted.
void request_stop_from_signal(int signal);

} // namespace delos::vmm
