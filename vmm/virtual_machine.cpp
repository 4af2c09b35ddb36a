// virtual_machine.cpp: building a VM from its config, and the vCPU exit loop.
#include "virtual_machine.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>

#include "abi/channel_limits.h"
#include "abi/platform.h"
#include "guest_stack_walk.h"
#include "kernel_image.h"
#include "start_info.h"
#include "stop_request.h"
#include "vmm_error.h"
#include "x86_64_cpu.h"

namespace delos::vmm {

namespace {

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
    : m_memory(std::move(boot.memory)), m_kernel_file(std::move(boot.kernel_file)),
      m_serial_file(std::move(boot.serial_file)), m_kvm(Kvm::open()), m_vm(m_kvm), m_boot_timer(vmm_start)
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
    m_control_console = std::make_unique<ConsoleDevice>(channel::kControlPortName);
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

std::string VirtualMachine::describe_crash() const
{
    std::string report = describe_registers(*m_vcpu);
    kvm_regs registers{};
    kvm_sregs special{};
    if (::ioctl(m_vcpu->fd(), KVM_GET_REGS, &registers) < 0 || ::ioctl(m_vcpu->fd(), KVM_GET_SREGS, &special) < 0)
        return report;
    // The kernel file is read again only now (boot read just its loadable part, not .symtab).
    std::vector<std::uint8_t> kernel;
    struct stat status {};
    constexpr std::uint64_t kLargestKernelFile = 1ull << 30;
    if (m_kernel_file.valid() && ::fstat(m_kernel_file.get(), &status) == 0 && S_ISREG(status.st_mode) &&
        static_cast<std::uint64_t>(status.st_size) <= kLargestKernelFile) {
        kernel.resize(static_cast<std::size_t>(status.st_size));
        std::size_t done = 0;
        while (done < kernel.size()) {
            ssize_t n = ::pread(m_kernel_file.get(), kernel.data() + done, kernel.size() - done, static_cast<off_t>(done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += static_cast<std::size_t>(n);
        }
        kernel.resize(done);
    }
    SymbolTable symbols = SymbolTable::from_elf(kernel);
    GuestAddressSpace::Paging paging{(special.cr0 & (1ull << 31)) != 0, special.cr3, (special.cr4 & (1ull << 12)) != 0};
    GuestAddressSpace memory({m_memory.host_base(), static_cast<std::size_t>(m_memory.size())}, paging);
    report += describe_guest_backtrace(memory, symbols, registers.rip, registers.rbp);
    if (symbols.size() == 0)
        report += "  (no symbols: the kernel file has no readable .symtab)\n";
    return report;
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
    set_stop_target(run);
    struct ClearStopTarget {
        ~ClearStopTarget() { set_stop_target(nullptr); }
    } clear_stop_target;
    for (;;) {
        if (int signal = stop_signal())
            return {RunOutcome::Kind::Interrupted, stop_exit_status(signal),
                    std::string("stopped by ") + signal_name(signal), signal};
        if (take_stats_request())
            std::fprintf(stderr, "delos-vmm: stats: %s\n", describe_exits().c_str());
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
                                                         describe_crash()};
        case KVM_EXIT_SHUTDOWN:
            return {RunOutcome::Kind::GuestCrash, 3, "guest shut down (triple fault: KVM_EXIT_SHUTDOWN)\n" +
                                                         describe_crash()};
        case KVM_EXIT_FAIL_ENTRY:
            return {RunOutcome::Kind::GuestCrash, 3,
                    "VM entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason " +
                        hex(run->fail_entry.hardware_entry_failure_reason) + ")\n" + describe_crash()};
        case KVM_EXIT_INTERNAL_ERROR:
            return {RunOutcome::Kind::GuestCrash, 3,
                    "KVM internal error (suberror " + std::to_string(run->internal.suberror) + ": " +
                        internal_error_name(run->internal.suberror) + ")\n" + describe_crash()};
        default:
            return {RunOutcome::Kind::GuestCrash, 3,
                    "unexpected VM exit reason " + std::to_string(run->exit_reason) + "\n" + describe_crash()};
        }
    }
}

} // namespace delos::vmm
