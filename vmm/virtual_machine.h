// virtual_machine.h: one VM built from a VmConfig: KVM objects, guest RAM, devices, and the vCPU loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "boot_preparation.h"
#include "boot_timer.h"
#include "control_socket.h"
#include "debug_exit.h"
#include "exit_counters.h"
#include "file_descriptor.h"
#include "guest_memory.h"
#include "io_bus.h"
#include "kvm.h"
#include "log_port.h"
#include "mmio_bus.h"
#include "serial_16550.h"
#include "virtio/console_device.h"
#include "virtio/kvm_interrupt_line.h"
#include "virtio/mmio_transport.h"
#include "virtio/queue_notify_eventfds.h"
#include "vm_config.h"

namespace delos::vmm {

struct RunOutcome {
    enum class Kind { GuestExit, GuestCrash, Interrupted } kind;
    int exit_code;
    std::string reason;  // for crashes: the exit reason and a register dump
    int signal = 0;      // Interrupted: the SIGINT/SIGTERM that asked to stop (see stop_request.h)
};

class VirtualMachine {
public:
    // Builds the VM: first everything from the inputs (prepare_boot: kernel, modules, RAM,
    // start_info, serial file, control socket), only then KVM, devices and the vCPU.
    VirtualMachine(const VmConfig& config, BootTimer::Clock::time_point vmm_start);

    // Runs the vCPU until the guest exits or crashes, or SIGINT/SIGTERM asks to stop (Interrupted).
    RunOutcome run();

    const ExitCounters& exit_counters() const { return m_exits; }
    // The exit counters plus the control console's notifications (ioeventfd exits included)
    // and interrupts. vCPU thread only (or after run() returned).
    std::string describe_exits() const;
    const GuestMemory& memory() const { return m_memory; }
    std::optional<double> boot_ms() const { return m_boot_timer.ready_after_ms(); }
    void flush_console() { m_serial->flush(); }

    // "ioeventfd+irqfd", "mmio-exit+KVM_IRQ_LINE", ...; empty without --control-socket.
    const std::string& control_console_wiring() const { return m_control_console_wiring; }

private:
    VirtualMachine(PreparedBoot boot, BootTimer::Clock::time_point vmm_start);
    RunOutcome handle_io_exit();
    void handle_mmio_exit();
    void attach_control_console(UnixListener listener);
    // Registers, then RIP and the frame-pointer chain read from guest memory, symbolised with the
    // kernel ELF's .symtab: the details of an exit-3 crash report.
    std::string describe_crash() const;

    // Inputs first (initialised before KVM is opened, destroyed after the VM is closed).
    GuestMemory m_memory;
    FileDescriptor m_kernel_file;
    FileDescriptor m_serial_file;
    Kvm m_kvm;
    Vm m_vm;
    std::unique_ptr<Serial16550> m_serial;
    std::unique_ptr<LogPort> m_log_port;
    DebugExit m_debug_exit;
    BootTimer m_boot_timer;
    IoBus m_io_bus;
    MmioBus m_mmio_bus;
    // Control console, in construction order; the socket's thread stops first on destruction.
    std::unique_ptr<virtio::ConsoleDevice> m_control_console;
    std::unique_ptr<virtio::KvmInterruptLine> m_control_console_interrupt;
    std::unique_ptr<virtio::MmioTransport> m_control_console_transport;
    std::unique_ptr<virtio::QueueNotifyEventfds> m_control_console_notifiers;
    std::unique_ptr<ControlSocket> m_control_socket;
    std::string m_control_console_wiring;
    std::optional<Vcpu> m_vcpu;
    ExitCounters m_exits;
};

} // namespace delos::vmm
