// kernel_main.cpp: the kernel core's first steps after the handover: reclaim the nano_core,
// announce readiness, and run what the command line asks for.
#include "kernel/kernel.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/tsc.h"
#include "debug/fault_probe.h"
#include "kernel/command_table.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "platform/boot_facts.h"
#include "platform/vm_generation.h"
#include "platform/platform_ports.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"
#include "runtime/frame_tables.h"
#include "lib/recovery/policy_options.h"
#include "recovery_policy/cell_records.h"
#include "recovery_policy/recovery_service.h"
#include "recovery/fault_containment.h"
#include "recovery/fault_log.h"
#include "task/watchdog.h"
#include "task/scheduler.h"

namespace delos::kernel {

namespace {

// The nano_core is never needed again: unmap it (a stray call into it faults) and free its frames.
void reclaim_nano_core(const Handover& handover)
{
    std::uint64_t size = handover.nano_core_end - handover.nano_core_start;
    auto unmapped = memory::kernel_page_table().set_access(handover.nano_core_start, size, memory::Access::None);
    if (unmapped.is_error())
        panic("unmapping the nano_core", unmapped.error());
    memory::frame_allocator().release_reserved({handover.nano_core_start, size});
    platform::record_bytes_reclaimed(size);
}

// The boot task has nothing left to do. Under the scheduler it blocks for good: a boot task that
// merely halted stayed ready, took the CPU at every time-slice tick, and then slept in its own
// `hlt` through the interrupts that made other tasks (the control agent) ready, until the next
// tick ~10 ms later (the channel's round-trip tail). The idle task halts when nothing is ready.
[[noreturn]] void idle_forever()
{
    if (task::scheduler::started()) {
        SpinLock never_woken;
        for (;;) {
            (void)never_woken.lock();
            task::scheduler::block_current_releasing(never_woken);
        }
    }
    for (;;)
        cpu::enable_interrupts_and_halt();
}

// Links the boot set from the cell archive (PVH module 0). A refused archive or cell is
// reported and the kernel runs on without it.
std::size_t load_boot_cells()
{
    auto& cells = loader::cell_manager();
    ByteView archive;
    const pvh::BootInfo& boot_info = platform::boot_info();
    if (boot_info.module_count > 0)
        archive = ByteView(reinterpret_cast<const void*>(boot_info.modules[0].address),
                           static_cast<std::size_t>(boot_info.modules[0].size));
    auto initialized = cells.initialize(archive);
    if (initialized.is_error()) {
        kprint("delos: boot archive refused: {}: {}\n", initialized.error().message, initialized.error().explanation());
        return 0;
    }
    std::uint64_t start = tsc::nanoseconds_since_boot();
    auto loaded = cells.load_boot_set();
    platform::record_boot_set_link_ns(tsc::nanoseconds_since_boot() - start);
    if (loaded.is_error())
        kprint("delos: boot set refused: {}: {}\n", loaded.error().message, loaded.error().explanation());
    return cells.cell_count();
}

// The default recovery policy and the console copy of fault reports, from recovery.* options.
void configure_recovery(const CommandLine& command_line)
{
    auto policy = recovery::policy_from_command_line(command_line, recovery::default_policy());
    if (policy.is_error())
        kprint("delos: recovery options refused ({}: {}); the default policy stays\n", policy.error().message,
               policy.error().explanation());
    else
        (void)recovery::set_default_policy(policy.value());
    StringView reports;
    if (command_line.option("recovery.console_reports", reports) && reports == "0")
        task::set_fault_console_reports(false);
}

} // namespace

void kernel_main(const Handover* handover)
{
    platform::record_boot_info(handover->boot);
    const pvh::BootInfo& boot_info = platform::boot_info();
    if (cpu::native_mode())
        kprint("cpu: kvm_pvm native mode\n");
    else if (handover->native_mode_error)
        kprint("cpu: ordinary (kvm_pvm found, native mode refused: {})\n", handover->native_mode_error);
    else
        kprint("cpu: ordinary\n");
    if (auto registered = unwinding::register_kernel_frame_table(); registered.is_error())
        panic("indexing the kernel's .eh_frame", registered.error());
    install_fault_probe_hook();
    // Fault containment after the probes: a probe expects its fault, containment ends a task.
    if (!arch::add_exception_hook(task::contain_fault, arch::kExceptionRankRecovery))
        panic("adding fault containment to the exception hook chain");
    // The watchdog's ticks unwind stuck tasks through the same containment (task/watchdog.h).
    task::watchdog::set_handler(task::contain_watchdog_expiry);
    task::lock_waits::set_handler(task::contain_lock_wait);
    kprint("delos: boot id {}\n", task::boot_id());  // fault reports carry it (de-duplication)
    {
        // Remembered now, so only a value that changes later (a snapshot clone's) renews the id.
        platform::VmGenerationCheck generation = platform::check_vm_generation();
        if (generation.refused)
            kprint("delos: VM generation refused: {}\n", generation.refused);
    }
    reclaim_nano_core(*handover);
    // Tasks first: every cell entry runs in a task of its own (linker/kernel/cell_manager.h), so the
    // boot set's constructors and init entries may sleep or spawn tasks like any later load.
    if (auto started = task::scheduler::start(); started.is_error())
        panic("starting the scheduler", started.error());
    // Before the boot cells: their init entries may start service tasks.
    if (auto started = recovery::start_recovery_service(); started.is_error())
        panic("starting the recovery service", started.error());
    configure_recovery(CommandLine(platform::boot_info().command_line));
    std::size_t cells_loaded = load_boot_cells();

    auto& frames = memory::frame_allocator();
    std::uint64_t boot_ns = tsc::nanoseconds_since_boot();
    platform::record_boot_ns(boot_ns);
    kprint("delos: ready: {} cells loaded, {} bytes reclaimed, {} MiB RAM, {} MiB free, boot {} us (tsc {} MHz from {})\n", cells_loaded,
           platform::bytes_reclaimed(), boot_info.ram_end() >> 20, (frames.free_frames() * memory::kPageSize) >> 20,
           boot_ns / 1000, tsc::ticks_per_second() / 1000000, tsc::calibration_source());
    platform::signal_ready();

    CommandLine command_line(boot_info.command_line);
    const KernelCommand* command = find_kernel_command(command_line.command());
    if (!command) {
        kprint("delos: unknown command '{}'; running\n", command_line.command());
        print_kernel_commands();
        command = find_kernel_command("run");
    }
    command->run(command_line);
    idle_forever();
}

} // namespace delos::kernel
