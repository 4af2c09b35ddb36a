// stop_machine.cpp: run_alone() on the CPU: interrupts, the stop IPI's hook point and the release's
// TLB flush and serialisation, around the rendezvous protocol (lib/core/stop_rendezvous.h).
#include "sync/stop_machine.h"

#include "arch/x86_64/cpu.h"

namespace delos::stop_machine {

namespace {

Rendezvous g_rendezvous;

// This CPU's number. One CPU today; AP bring-up makes this the per-CPU block's number (GS base or
// the local APIC ID mapped to a dense index) and calls cpu_online() for each AP.
std::uint32_t current_cpu() { return 0; }

// The hook point where the local APIC code sends the stop IPI (a fixed vector whose handler calls
// park_this_cpu() with the interrupted frame's stack pointer). No AP is ever brought online today,
// so no request can reach here; once there are, this becomes local_apic::send_ipi(cpu, vector).
ErrorOr<void> send_stop_ipi(std::uint32_t cpu)
{
    return Error::make(ErrorCode::Unsupported, "no stop IPI yet: application processors are not brought up", cpu);
}

void pause() { cpu::pause(); }

void boot_cpu_online() { (void)g_rendezvous.cpu_online(0); }

} // namespace

void cpu_online(std::uint32_t cpu) { (void)g_rendezvous.cpu_online(cpu); }

std::uint32_t online_cpus()
{
    boot_cpu_online();
    return g_rendezvous.online();
}

bool running_alone() { return g_rendezvous.stopper() == current_cpu(); }

ErrorOr<void> run_alone(void (*operation)(void*), void* context)
{
    boot_cpu_online();
    std::uint32_t self = current_cpu();
    if (running_alone())
        return Error::make(ErrorCode::Busy, "run_alone called from inside an operation that runs alone");
    bool others_online = g_rendezvous.online() > 1;
    if (others_online && !cpu::interrupts_enabled())
        return Error::make(ErrorCode::Busy, "run_alone needs interrupts enabled while other CPUs are online")
            .with_detail("a CPU spinning for a lock the caller holds, with interrupts off, would never park");
    // One stopper at a time; wait with interrupts enabled, so another stopper can park this CPU.
    g_rendezvous.claim(pause);
    bool interrupts_were_enabled = cpu::interrupts_enabled();
    if (interrupts_were_enabled)
        cpu::disable_interrupts();  // this CPU: no timer tick, so no switch to another task

    ErrorOr<void> stopped = g_rendezvous.stop_others(self, send_stop_ipi, pause);
    if (!stopped.is_error())
        operation(context);
    g_rendezvous.release_others(pause);

    g_rendezvous.unclaim();
    if (interrupts_were_enabled)
        cpu::enable_interrupts();
    return stopped;
}

void park_this_cpu(std::uint64_t interrupted_stack_pointer)
{
    (void)g_rendezvous.park(current_cpu(), interrupted_stack_pointer, pause, [] {
        // Page permissions changed and pages unmapped on the stopper's CPU; code rewritten under us.
        cpu::write_cr3(cpu::read_cr3());
        (void)cpu::cpuid(0);
    });
}

std::uint64_t parked_stack_pointer(std::uint32_t cpu) { return g_rendezvous.parked_stack_pointer(cpu); }

Statistics statistics() { return {g_rendezvous.operations(), g_rendezvous.cpus_parked()}; }

} // namespace delos::stop_machine
