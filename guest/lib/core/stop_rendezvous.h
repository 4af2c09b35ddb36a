// stop_rendezvous.h: the several-CPU protocol behind stop_machine::run_alone() (guest/sync/) as
// plain atomics, with the CPU-specific steps (send the stop IPI, pause, flush and serialise on
// release) passed in, so the host tests it with threads standing in for CPUs.
//
// One stopper at a time (claim/unclaim). The stopper sets each other online CPU's word from
// Running to Requested and sends it the stop IPI; that CPU's handler (park) publishes the stack
// pointer of the task it interrupted, says Parked and spins until the release generation moves;
// the stopper runs its operation once every requested CPU says Parked, then releases them and
// waits until each says Running again (so a CPU late to leave never counts for the next stop).
#pragma once

#include <atomic>
#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::stop_machine {

// Per-CPU rendezvous word.
enum class CpuState : std::uint32_t {
    Offline,    // not brought up: never waited for
    Running,    // runs tasks; takes a stop request when it next has interrupts enabled
    Requested,  // the stopper asked it to park (and sent it the stop IPI)
    Parked,     // in park() with interrupts off, spinning until released
};

class Rendezvous {
public:
    static constexpr std::uint32_t kMaxCpus = 64;
    static constexpr std::uint32_t kNoCpu = kMaxCpus;

    // A CPU's bring-up, once it can take the stop IPI. Returns false if it was online already.
    bool cpu_online(std::uint32_t cpu)
    {
        if (cpu >= kMaxCpus)
            return false;
        CpuState offline = CpuState::Offline;
        if (!m_cpus[cpu].state.compare_exchange_strong(offline, CpuState::Running))
            return false;
        m_online.fetch_add(1);
        return true;
    }
    std::uint32_t online() const { return m_online.load(); }
    CpuState state(std::uint32_t cpu) const
    {
        return cpu < kMaxCpus ? m_cpus[cpu].state.load(std::memory_order_acquire) : CpuState::Offline;
    }

    // Becomes the one stopper; `wait()` is called while another CPU is (the kernel waits with
    // interrupts enabled there, so that stopper's IPI can park this CPU meanwhile).
    template <typename Wait>
    void claim(Wait wait)
    {
        while (m_stopper_taken.exchange(true, std::memory_order_acquire)) {
            while (m_stopper_taken.load(std::memory_order_relaxed))
                wait();
        }
    }
    void unclaim() { m_stopper_taken.store(false, std::memory_order_release); }

    // The CPU whose operation runs now (kNoCpu: none).
    std::uint32_t stopper() const { return m_stopper_cpu.load(std::memory_order_acquire); }

    // Stopper, after claim(): asks every other Running CPU to park (`send_ipi(cpu)` for each, an
    // ErrorOr<void>) and waits (`pause()`) until each has. On an error the CPUs already asked are
    // left requested: release_others() puts them back either way.
    template <typename SendIpi, typename Pause>
    ErrorOr<void> stop_others(std::uint32_t self, SendIpi send_ipi, Pause pause)
    {
        m_stopper_cpu.store(self, std::memory_order_release);
        m_generation = m_release_generation.load(std::memory_order_relaxed);
        m_requested_count = 0;
        ErrorOr<void> stopped = {};
        for (std::uint32_t cpu = 0; cpu < kMaxCpus && !stopped.is_error(); ++cpu) {
            if (cpu == self || m_cpus[cpu].state.load(std::memory_order_acquire) != CpuState::Running)
                continue;
            m_cpus[cpu].release_at.store(m_generation + 1, std::memory_order_relaxed);
            m_cpus[cpu].state.store(CpuState::Requested, std::memory_order_release);
            m_requested[m_requested_count++] = cpu;
            stopped = send_ipi(cpu);
        }
        for (std::uint32_t i = 0; i < m_requested_count && !stopped.is_error(); ++i) {
            while (m_cpus[m_requested[i]].state.load(std::memory_order_acquire) != CpuState::Parked)
                pause();
        }
        if (!stopped.is_error()) {
            m_operations.fetch_add(1, std::memory_order_relaxed);
            m_cpus_parked.fetch_add(m_requested_count, std::memory_order_relaxed);
        }
        return stopped;
    }

    // Stopper, after its operation: a new release generation (its release store publishes
    // everything the operation wrote); a CPU only requested (its IPI failed) is put back directly;
    // waits until every requested CPU says Running again.
    template <typename Pause>
    void release_others(Pause pause)
    {
        m_stopper_cpu.store(kNoCpu, std::memory_order_release);
        for (std::uint32_t i = 0; i < m_requested_count; ++i) {
            CpuState requested = CpuState::Requested;
            m_cpus[m_requested[i]].state.compare_exchange_strong(requested, CpuState::Running);
        }
        m_release_generation.store(m_generation + 1, std::memory_order_release);
        for (std::uint32_t i = 0; i < m_requested_count; ++i) {
            while (m_cpus[m_requested[i]].state.load(std::memory_order_acquire) != CpuState::Running)
                pause();
        }
        m_requested_count = 0;
    }

    // Another CPU, interrupts off (the stop IPI's handler): parks until released, then calls
    // `on_release()` (the kernel flushes its TLB and serialises there) before it says Running.
    // Returns false at once for a stale or spurious IPI (this CPU was not requested).
    template <typename Pause, typename OnRelease>
    bool park(std::uint32_t self, std::uint64_t interrupted_stack_pointer, Pause pause, OnRelease on_release)
    {
        if (self >= kMaxCpus)
            return false;
        CpuSlot& me = m_cpus[self];
        // Requested -> Parked in one step, then wait for the release generation the request named:
        // a stopper putting this CPU back (its IPI failed) at the same moment wins or loses
        // cleanly, and a late handler can never take an old request's generation for a new one
        // (reading the generation apart from the request could park this CPU past its release,
        // or leave it waiting for a release that already happened).
        me.parked_stack_pointer.store(interrupted_stack_pointer, std::memory_order_relaxed);
        CpuState requested = CpuState::Requested;
        if (!me.state.compare_exchange_strong(requested, CpuState::Parked, std::memory_order_acq_rel))
            return false;
        std::uint64_t release_at = me.release_at.load(std::memory_order_relaxed);
        while (m_release_generation.load(std::memory_order_acquire) < release_at)
            pause();
        on_release();
        me.parked_stack_pointer.store(0, std::memory_order_relaxed);
        me.state.store(CpuState::Running, std::memory_order_release);
        return true;
    }

    // The published stack pointer of the task parked on `cpu` (0 if that CPU is not parked).
    std::uint64_t parked_stack_pointer(std::uint32_t cpu) const
    {
        if (cpu >= kMaxCpus || m_cpus[cpu].state.load(std::memory_order_acquire) != CpuState::Parked)
            return 0;
        return m_cpus[cpu].parked_stack_pointer.load(std::memory_order_relaxed);
    }

    std::uint64_t operations() const { return m_operations.load(); }
    std::uint64_t cpus_parked() const { return m_cpus_parked.load(); }

private:
    struct alignas(64) CpuSlot {  // one cache line per CPU: the stopper polls them all
        std::atomic<CpuState> state{CpuState::Offline};
        std::atomic<std::uint64_t> parked_stack_pointer{0};
        std::atomic<std::uint64_t> release_at{0};  // the release generation its request ends at
    };

    CpuSlot m_cpus[kMaxCpus];
    std::atomic<std::uint32_t> m_online{0};
    std::atomic<bool> m_stopper_taken{false};
    std::atomic<std::uint32_t> m_stopper_cpu{kNoCpu};
    std::atomic<std::uint64_t> m_release_generation{0};
    std::atomic<std::uint64_t> m_operations{0}, m_cpus_parked{0};
    // The stopper's own bookkeeping between stop_others() and release_others().
    std::uint64_t m_generation = 0;
    std::uint32_t m_requested[kMaxCpus] = {};
    std::uint32_t m_requested_count = 0;
};

} // namespace delos::stop_machine
