// stop_machine.h: run an operation alone: every other CPU parked at a safe point with interrupts
// off and acknowledged, interrupts off on the caller's CPU, then everyone released. What a swap,
// a quarantine and a retired-cell collection rely on instead of "interrupts off means nobody
// else runs" (docs/live-evolution.md, "Running alone").
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/stop_rendezvous.h"

namespace delos::stop_machine {

// The rendezvous itself (per-CPU words, request, park, release) is lib/core/stop_rendezvous.h,
// host-tested with threads; this file adds the CPU: interrupts, the stop IPI, TLB flush, serialise.
inline constexpr std::uint32_t kMaxCpus = Rendezvous::kMaxCpus;

// Called by a CPU's bring-up once it can take the stop IPI (CPU 0 is online from boot).
void cpu_online(std::uint32_t cpu);
std::uint32_t online_cpus();

// The contract of run_alone(): from the moment the operation starts until it returns, no other
// task runs on any CPU and no interrupt handler runs (NMIs aside); every other online CPU sits in
// park_this_cpu() with interrupts off, holding no SpinLock (the stop IPI is only taken with
// interrupts enabled, and every SpinLock holder masks them), so the operation may take any
// SpinLock. It must not block, yield or sleep. After it, each parked CPU flushes its TLB and
// serialises before it resumes its task, so permission changes and rewritten code made by the
// operation are seen everywhere. Refused (Busy) if called with interrupts masked while other CPUs
// are online (they could be waiting for a lock the caller holds) or from inside an operation.
ErrorOr<void> run_alone(void (*operation)(void*), void* context);

template <typename Operation>
ErrorOr<void> run_alone(Operation& operation)
{
    return run_alone([](void* context) { (*static_cast<Operation*>(context))(); }, &operation);
}

// Whether the calling code runs inside run_alone()'s operation (checked by code that must).
bool running_alone();

// The stop IPI's handler body on each other CPU: acknowledges, spins with interrupts off until
// released, then flushes its TLB and serialises. `interrupted_stack_pointer` is where the frame of
// the task it interrupted begins (its saved registers), published so stack scans cover that task.
void park_this_cpu(std::uint64_t interrupted_stack_pointer);

// The published stack pointer of the task parked on `cpu` (0 if that CPU is not parked).
std::uint64_t parked_stack_pointer(std::uint32_t cpu);

// Counters for tests: operations run alone, and CPUs parked for them.
struct Statistics {
    std::uint64_t operations;
    std::uint64_t cpus_parked;
};
Statistics statistics();

} // namespace delos::stop_machine
