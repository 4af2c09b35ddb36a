// command_table.cpp: every kernel command with its help text. Benchmarks, probes and crashes
// live in diagnostics/, the selftests in selftest/, serving the channel in control/.
#include "kernel/command_table.h"

#include "control/control_agent.h"
#include "control/control_echo.h"
#include "diagnostics/crash_commands.h"
#include "diagnostics/link_benchmark.h"
#include "diagnostics/mode_probe.h"
#include "diagnostics/swap_benchmark.h"
#include "diagnostics/task_benchmark.h"
#include "drivers/device_registry.h"
#include "drivers/virtio/console_devices.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "platform/platform_ports.h"
#include "diagnostics/fault_benchmark.h"
#include "selftest/selftest.h"

namespace delos::kernel {

namespace {

// With a console found (delos-vmm --control-socket, or a QEMU/libvirt virtio-console), serve the
// control channel on it; either way the kernel stays up.
void run_serving(const CommandLine&)
{
    devices::discover_devices();
    if (virtio::console_count() > 0) {
        if (auto started = control::start_control_agent(); started.is_error())
            kprint("delos: control agent not started: {}\n", started.error().message);
    } else {
        kprint("delos: no control channel: no virtio-console device found (virtio-mmio devices come from "
               "virtio_mmio.device= options, which QEMU microvm writes only with acpi=off; "
               "docs/qemu-and-libvirt.md)\n");
    }
}

void run_help(const CommandLine&)
{
    print_kernel_commands();
    platform::shutdown(platform::kExitSuccess);
}

void run_exit(const CommandLine&) { platform::shutdown(platform::kExitSuccess); }

void run_selftest(const CommandLine& command_line)
{
    bool passed = selftest::run_all(command_line.argument(0));
    platform::shutdown(passed ? platform::kExitSuccess : platform::kExitTestsFailed);
}

template <void (*Diagnostic)()>
void run_then_exit(const CommandLine&)
{
    Diagnostic();
    platform::shutdown(platform::kExitSuccess);
}

void run_link_benchmark(const CommandLine&)
{
    diagnostics::run_link_benchmark(3);
    platform::shutdown(platform::kExitSuccess);
}

void run_swap_benchmark(const CommandLine&)
{
    diagnostics::run_swap_benchmark(200);
    platform::shutdown(platform::kExitSuccess);
}

void run_fault_benchmark(const CommandLine&)
{
    diagnostics::run_fault_benchmark(200, 120);
    platform::shutdown(platform::kExitSuccess);
}

void run_control_echo(const CommandLine&)
{
    virtio::run_control_echo();  // returns only when the port cannot be opened or breaks
}

void run_panic(const CommandLine&) { panic("panic requested on the command line"); }

template <void (*Crash)()>
void run_crash(const CommandLine&)
{
    Crash();
}

constexpr KernelCommand kCommands[] = {
    {"run", "", "stay up and serve the control channel on a virtio-console, if there is one (the default)", run_serving},
    {"help", "", "print these commands and exit", run_help},
    {"exit", "", "exit at once with code 0 (boot time checks)", run_exit},
    {"selftest", "[SUITE[.TEST]]", "run the in-guest tests (all, one suite or one test); exit 0 if all passed", run_selftest},
    {"control-echo", "", "echo every byte of the control port back (the channel's transport test)", run_control_echo},
    {"bench-tasks", "", "time spawn+join, a context switch, map+unmap and a cross-cell call", run_then_exit<diagnostics::run_task_benchmarks>},
    {"bench-link", "", "time linking the boot set (boot with build/cells/cells.a)", run_link_benchmark},
    {"bench-swap", "", "time 200 swaps of the 64 KiB wide cell (boot with build/cells/swap-test.a)", run_swap_benchmark},
    {"bench-faults", "", "time fault recovery: a restarted task and a reloaded cell back at work (boot with build/cells/recovery-test.a)", run_fault_benchmark},
    {"probe-mode", "", "time each operation that traps in the current CPU mode (kvm_pvm native or ordinary)", run_then_exit<diagnostics::run_mode_probe>},
    {"panic", "", "panic in the kernel core: the report and exit code 11", run_panic},
    {"crash-page-fault", "", "write to an unmapped page in the boot task (not contained: exit 11)", run_crash<diagnostics::crash_with_page_fault>},
    {"crash-stack-overflow", "", "recurse into the boot stack's guard page", run_crash<diagnostics::crash_with_stack_overflow>},
    {"crash-triple-fault", "", "load an empty IDT and trap: the VMM reports the triple fault", run_crash<diagnostics::crash_with_triple_fault>},
    {"crash-task-spinlocked", "", "fault in a task holding a spin lock (not contained: exit 11)", run_crash<diagnostics::crash_task_with_spin_lock_held>},
    {"crash-task-in-destructor", "", "fault in a task, then again in a destructor while unwinding (not contained: exit 11)",
     run_crash<diagnostics::crash_task_in_destructor>},
    {"crash-task-in-interrupt", "", "a task's interrupt handler faults (interrupt context: not contained, exit 11)",
     run_crash<diagnostics::crash_task_in_interrupt>},
    {"crash-task-overflow-spinlocked", "", "overflow a task's stack holding a spin lock (found, not contained: exit 11)",
     run_crash<diagnostics::crash_task_overflow_with_spin_lock_held>},
    {"crash-switch-alone", "", "yield inside stop_machine::run_alone while another task is ready (a bug the scheduler refuses: exit 11)",
     run_crash<diagnostics::crash_switch_inside_run_alone>},
};

} // namespace

KernelCommands kernel_commands() { return {kCommands, sizeof kCommands / sizeof kCommands[0]}; }

const KernelCommand* find_kernel_command(StringView name)
{
    if (name.empty())
        name = "run";
    for (const KernelCommand& command : kernel_commands()) {
        if (command.name == name)
            return &command;
    }
    return nullptr;
}

void print_kernel_commands()
{
    kprint("delos: commands (the first word of the command line; key=value words are options):\n");
    for (const KernelCommand& command : kernel_commands()) {
        if (command.arguments.empty())
            kprint("  {}: {}\n", command.name, command.summary);
        else
            kprint("  {} {}: {}\n", command.name, command.arguments, command.summary);
    }
}

} // namespace delos::kernel
