// stop_machine.cpp: the rendezvous behind run_alone(): one stopper at a time, per-CPU state words
// acknowledged through atomics, the stop IPI's hook point, and the release (TLB flush, serialise).
#include "sync/stop_machine.h"

#include <atomic>

#include "arch/x86_64/cpu.h"

namespace delos::stop_machine {

namespace {

struct alignas(64) CpuRendezvous {  // one cache line per CPU: the stopper polls them all
    std::atomic<CpuState> state{CpuState::Offline};
    std::atomic<std::uint64_t> parked_stack_pointer{0};
};

CpuRendezvous g_cpus[kMaxCpus];
std::atomic<std::uint32_t> g_online{0};
std::atomic<bool> g_stopper_taken{false};
std::atomic<std::uint32_t> g_stopper_cpu{kMaxCpus};  // kMaxCpus: no operation running
std::atomic<std::uint64_t> g_release_generation{0};
std::atomic<std::uint64_t> g_operations{0}, g_cpus_parked{0};

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

void boot_cpu_online()
{
    CpuState offline = CpuState::Offline;
    if (g_cpus[0].state.compare_exchange_strong(offline, CpuState::Running))
        g_online.fetch_add(1);
}

} // namespace

void cpu_online(std::uint32_t cpu)
{
    if (cpu >= kMaxCpus)
        return;
    CpuState offline = CpuState::Offline;
    if (g_cpus[cpu].state.compare_exchange_strong(offline, CpuState::Running))
        g_online.fetch_add(1);
}

std::uint32_t online_cpus()
{
    boot_cpu_online();
    return g_online.load();
}

bool running_alone() { return g_stopper_cpu.load(std::memory_order_acquire) == current_cpu(); }

ErrorOr<void> run_alone(void (*operation)(void*), void* context)
{
    boot_cpu_online();
    std::uint32_t self = current_cpu();
    if (running_alone())
        return Error::make(ErrorCode::Busy, "run_alone called from inside an operation that runs alone");
    bool others_online = g_online.load() > 1;
    if (others_online && !cpu::interrupts_enabled())
        return Error::make(ErrorCode::Busy, "run_alone needs interrupts enabled while other CPUs are online")
            .with_detail("a CPU spinning for a lock the caller holds, with interrupts off, would never park");
    // One stopper at a time; wait with interrupts enabled, so another stopper can park this CPU.
    while (g_stopper_taken.exchange(true, std::memory_order_acquire)) {
        while (g_stopper_taken.load(std::memory_order_relaxed))
            cpu::pause();
    }
    bool interrupts_were_enabled = cpu::interrupts_enabled();
    if (interrupts_were_enabled)
        cpu::disable_interrupts();  // this CPU: no timer tick, so no switch to another task
    g_stopper_cpu.store(self, std::memory_order_release);

    // Ask every other online CPU to park, then wait until each has acknowledged.
    std::uint64_t generation = g_release_generation.load(std::memory_order_relaxed);
    std::uint32_t requested[kMaxCpus];
    std::uint32_t requested_count = 0;
    ErrorOr<void> stopped = {};
    for (std::uint32_t cpu = 0; cpu < kMaxCpus && !stopped.is_error(); ++cpu) {
        if (cpu == self || g_cpus[cpu].state.load(std::memory_order_acquire) != CpuState::Running)
            continue;
        g_cpus[cpu].state.store(CpuState::Requested, std::memory_order_release);
        requested[requested_count++] = cpu;
        stopped = send_stop_ipi(cpu);
    }
    for (std::uint32_t i = 0; i < requested_count && !stopped.is_error(); ++i) {
        while (g_cpus[requested[i]].state.load(std::memory_order_acquire) != CpuState::Parked)
            cpu::pause();
    }

    if (!stopped.is_error()) {
        g_operations.fetch_add(1, std::memory_order_relaxed);
        g_cpus_parked.fetch_add(requested_count, std::memory_order_relaxed);
        operation(context);
    }

    // Release: a new generation (its release store publishes everything the operation wrote);
    // each parked CPU flushes, serialises and says Running. A CPU only requested (its IPI failed)
    // is put back directly.
    g_stopper_cpu.store(kMaxCpus, std::memory_order_release);
    for (std::uint32_t i = 0; i < requested_count; ++i) {
        CpuState requested_state = CpuState::Requested;
        g_cpus[requested[i]].state.compare_exchange_strong(requested_state, CpuState::Running);
    }
    g_release_generation.store(generation + 1, std::memory_order_release);
    for (std::uint32_t i = 0; i < requested_count; ++i) {
        while (g_cpus[requested[i]].state.load(std::memory_order_acquire) != CpuState::Running)
            cpu::pause();
    }
    g_stopper_taken.store(false, std::memory_order_release);
    if (interrupts_were_enabled)
        cpu::enable_interrupts();
    return stopped;
}

void park_this_cpu(std::uint64_t interrupted_stack_pointer)
{
    CpuRendezvous& me = g_cpus[current_cpu()];
    if (me.state.load(std::memory_order_acquire) != CpuState::Requested)
        return;  // a stale IPI: the stopper already gave up on this CPU
    std::uint64_t generation = g_release_generation.load(std::memory_order_acquire);
    me.parked_stack_pointer.store(interrupted_stack_pointer, std::memory_order_relaxed);
    me.state.store(CpuState::Parked, std::memory_order_release);
    while (g_release_generation.load(std::memory_order_acquire) == generation)
        cpu::pause();
    // Page permissions changed and pages unmapped on the stopper's CPU; code rewritten under us.
    cpu::write_cr3(cpu::read_cr3());
    (void)cpu::cpuid(0);
    me.parked_stack_pointer.store(0, std::memory_order_relaxed);
    me.state.store(CpuState::Running, std::memory_order_release);
}

std::uint64_t parked_stack_pointer(std::uint32_t cpu)
{
    if (cpu >= kMaxCpus || g_cpus[cpu].state.load(std::memory_order_acquire) != CpuState::Parked)
        return 0;
    return g_cpus[cpu].parked_stack_pointer.load(std::memory_order_relaxed);
}

Statistics statistics() { return {g_operations.load(), g_cpus_parked.load()}; }

} // namespace delos::stop_machine
