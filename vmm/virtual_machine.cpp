// virtual_machine.cpp: building a VM from its config, and the vCPU exit loop.
#include "virtual_machine.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <algorithm>

#include "abi/platform.h"
#include "kernel_image.h"
#include "start_info.h"
#include "vmm_error.h"
#include "x86_64_cpu.h"

namespace delos::vmm {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_stats_requested = 0;

const char* exit_reason_name(std::uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_IO: return "io";
    case KVM_EXIT_MMIO: return "mmio";
    case KVM_EXIT_HLT: return "hlt";
    case KVM_EXIT_SHUTDOWN: return "shutdown";
    case KVM_EXIT_FAIL_ENTRY: return "fail-entry";
    case KVM_EXIT_INTERNAL_ERROR: return "internal-error";
    case KVM_EXIT_INTR: return "intr";
    case KVM_EXIT_SYSTEM_EVENT: return "system-event";
    default: return "other";
    }
}

const char* internal_error_name(std::uint32_t suberror)
{
    switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION: return "instruction emulation failed";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "event delivery failed";
    default: return "unknown";
    }
}

} // namespace

void request_stop_from_signal(int signal) { g_stop_signal = signal; }
void request_stats_from_signal() { g_stats_requested = 1; }

std::string VirtualMachine::describe_exits() const
{
    std::string text = m_exits.describe();
    if (m_control_console_transport)
        text += " virtio-notifications=" + std::to_string(m_control_console_transport->notifications()) +
                " virtio-interrupts=" + std::to_string(m_control_console_transport->interrupts_raised());
    return text;
}

VirtualMachine::VirtualMachine(const VmConfig& config, BootTimer::Clock::time_point vmm_start)
    : VirtualMachine(prepare_boot(config), vmm_start)
{
}

VirtualMachine::VirtualMachine(PreparedBoot boot, BootTimer::Clock::time_point vmm_start)
    : m_memory(std::move(boot.memory)), m_serial_file(std::move(boot.serial_file)), m_kvm(Kvm::open()), m_vm(m_kvm),
      m_boot_timer(vmm_start)
{
    m_vm.map_memory(0, 0, m_memory.size(), m_memory.host_base());
    m_vm.create_interrupt_controllers();

    m_serial = std::make_unique<Serial16550>(m_serial_file.valid() ? m_serial_file.get() : STDOUT_FILENO);
    m_io_bus.attach(abi::kCom1Port, Serial16550::kRegisterCount, *m_serial);
    m_log_port = std::make_unique<LogPort>(m_memory, *m_serial);
    m_io_bus.attach(abi::kLogPort, 4, *m_log_port);
    m_io_bus.attach(abi::kDebugExitPort, 4, m_debug_exit);
    m_io_bus.attach(abi::kBootTimerPort, 4, m_boot_timer);
    if (boot.control_listener)
        attach_control_console(std::move(*boot.control_listener));

    m_vcpu.emplace(m_vm.create_vcpu(0));
    configure_cpuid(m_kvm, *m_vcpu, 0, 1);
    configure_msrs(*m_vcpu);
    configure_local_apic(*m_vcpu);
    set_pvh_entry_state(*m_vcpu, boot.pvh_entry, boot.start_info_address);
}

void VirtualMachine::attach_control_console(UnixListener listener)
{
    using namespace virtio;
    m_control_console = std::make_unique<ConsoleDevice>("org.delos.control.0");
    m_control_console_interrupt =
        std::make_unique<KvmInterruptLine>(m_vm.fd(), kControlConsoleGsi, m_kvm.has_capability(KVM_CAP_IRQFD));
    m_control_console_transport = std::make_unique<MmioTransport>(*m_control_console, m_memory, *m_control_console_interrupt);
    m_control_console_notifiers = std::make_unique<QueueNotifyEventfds>(
        m_vm.fd(), kControlConsoleMmioBase + mmio::kQueueNotify, console::kQueueCount,
        m_kvm.has_capability(KVM_CAP_IOEVENTFD));
    m_control_socket =
        std::make_unique<ControlSocket>(std::move(listener), *m_control_console_transport, *m_control_console);
    const auto& notifiers = m_control_console_notifiers->eventfds();
    for (std::uint32_t queue = 0; queue < notifiers.size(); ++queue)
        m_control_socket->watch_queue_notifier(notifiers[queue].get(), queue);
    m_mmio_bus.attach(kControlConsoleMmioBase, mmio::kWindowSize, *m_control_console_transport);
    m_control_console_wiring = std::string(m_control_console_notifiers->registered() ? "ioeventfd" : "mmio-exit") + "+" +
                               m_control_console_interrupt->mechanism();
    std::fprintf(stderr, "delos-vmm: virtio-console at %s irq %u (notify: %s), control socket %s\n",
                 hex(kControlConsoleMmioBase).c_str(), kControlConsoleGsi, m_control_console_wiring.c_str(),
                 m_control_socket->path().c_str());
    m_control_socket->start();
}

void VirtualMachine::handle_mmio_exit()
{
    auto& mmio = m_vcpu->run_state()->mmio;
    std::size_t length = std::min<std::size_t>(mmio.len, sizeof mmio.data);
    ++m_exits.by_mmio_offset[mmio.phys_addr & 0xfff];
    if (mmio.is_write)
        m_mmio_bus.write(mmio.phys_addr, {mmio.data, length});
    else
        m_mmio_bus.read(mmio.phys_addr, {mmio.data, length});
}

RunOutcome VirtualMachine::handle_io_exit()
{
    kvm_run* run = m_vcpu->run_state();
    auto& io = run->io;
    std::uint64_t bytes = std::uint64_t(io.size) * io.count;
    if ((io.size != 1 && io.size != 2 && io.size != 4) || io.data_offset > m_vcpu->run_state_size() ||
        bytes > m_vcpu->run_state_size() - io.data_offset)
        return {RunOutcome::Kind::GuestCrash, 3, "malformed port I/O exit"};
    auto* data = reinterpret_cast<std::uint8_t*>(run) + io.data_offset;
    ++m_exits.by_port[io.port];
    for (std::uint32_t i = 0; i < io.count; ++i, data += io.size) {
        if (io.direction == KVM_EXIT_IO_OUT) {
            std::uint32_t value = 0;
            std::memcpy(&value, data, io.size);
            m_io_bus.write(io.port, value, io.size);
        } else {
            std::uint32_t value = m_io_bus.read(io.port, io.size);
            std::memcpy(data, &value, io.size);
        }
    }
    if (auto code = m_debug_exit.exit_code())
        return {RunOutcome::Kind::GuestExit, *code, ""};
    return {RunOutcome::Kind::GuestExit, -1, ""};  // -1: keep running
}

RunOutcome VirtualMachine::run()
{
    kvm_run* run = m_vcpu->run_state();
    for (;;) {
        if (g_stop_signal)
            return {RunOutcome::Kind::Interrupted, 128 + g_stop_signal, "stopped by signal"};
        if (g_stats_requested) {
            g_stats_requested = 0;
            std::fprintf(stderr, "delos-vmm: stats: %s\n", describe_exits().c_str());
        }
        if (::ioctl(m_vcpu->fd(), KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                m_exits.count("intr");
                continue;
            }
            throw_errno("KVM_RUN");
        }
        m_exits.count(exit_reason_name(run->exit_reason));
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            RunOutcome outcome = handle_io_exit();
            if (outcome.exit_code >= 0 || outcome.kind != RunOutcome::Kind::GuestExit)
                return outcome;
            break;
        }
        case KVM_EXIT_MMIO:
            // Unclaimed addresses: reads see all ones, writes vanish (see MmioBus).
            handle_mmio_exit();
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_HLT:
            return {RunOutcome::Kind::GuestCrash, 3, "guest halted with interrupts disabled (KVM_EXIT_HLT)\n" +
                                                         describe_registers(*m_vcpu)};
        case KVM_EXIT_SHUTDOWN:
            return {RunOutcome::Kind::GuestCrash, 3, "guest shut down (triple fault: KVM_EXIT_SHUTDOWN)\n" +
                                                         describe_registers(*m_vcpu)};
        case KVM_EXIT_FAIL_ENTRY:
            return {RunOutcome::Kind::GuestCrash, 3,
                    "VM entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason " +
                        hex(run->fail_entry.hardware_entry_failure_reason) + ")\n" + describe_registers(*m_vcpu)};
        case KVM_EXIT_INTERNAL_ERROR:
            return {RunOutcome::Kind::GuestCrash, 3,
                    "KVM internal error (suberror " + std::to_string(run->internal.suberror) + ": " +
                        internal_error_name(run->internal.suberror) + ")\n" + describe_registers(*m_vcpu)};
        default:
            return {RunOutcome::Kind::GuestCrash, 3,
                    "unexpected VM exit reason " + std::to_string(run->exit_reason) + "\n" + describe_registers(*m_vcpu)};
        }
    }
}

} // namespace delos::vmm
