// stop_rendezvous_test.cpp: the several-CPU protocol behind stop_machine::run_alone()
// (guest/lib/core/stop_rendezvous.h) with threads standing in for CPUs: while a stopper's
// operation runs no other "CPU" makes progress, each one flushes (on_release) before it runs again,
// two stoppers never overlap, and failed IPIs and stale parks leave nobody stuck.
#include "lib/core/stop_rendezvous.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

using delos::Error;
using delos::ErrorCode;
using delos::ErrorOr;
using delos::stop_machine::CpuState;
using delos::stop_machine::Rendezvous;

void yield() { std::this_thread::yield(); }

// Each simulated CPU runs "task code" (bumps its progress counter) and takes a pending stop IPI
// between two steps, as a CPU with interrupts enabled would.
struct Machine {
    explicit Machine(std::uint32_t cpus) : cpu_count(cpus), progress(cpus), ipi_pending(cpus), flushes(cpus)
    {
        for (std::uint32_t cpu = 0; cpu < cpus; ++cpu)
            EXPECT_TRUE(rendezvous.cpu_online(cpu));
    }

    ErrorOr<void> send_ipi(std::uint32_t cpu)
    {
        ipi_pending[cpu].store(true, std::memory_order_release);
        return {};
    }

    // The stop IPI's handler, if one is pending for `cpu`.
    void take_ipi(std::uint32_t cpu)
    {
        if (ipi_pending[cpu].exchange(false, std::memory_order_acq_rel))
            (void)rendezvous.park(cpu, 0x1000 + cpu, yield, [&] { flushes[cpu].fetch_add(1, std::memory_order_relaxed); });
    }

    std::uint32_t cpu_count;
    Rendezvous rendezvous;
    std::vector<std::atomic<std::uint64_t>> progress;
    std::vector<std::atomic<bool>> ipi_pending;
    std::vector<std::atomic<std::uint64_t>> flushes;
    std::atomic<bool> finished{false};
};

TEST(StopRendezvous, AloneThereIsNobodyToWaitFor)
{
    Rendezvous rendezvous;
    ASSERT_TRUE(rendezvous.cpu_online(0));
    EXPECT_FALSE(rendezvous.cpu_online(0));
    EXPECT_EQ(rendezvous.stopper(), Rendezvous::kNoCpu);
    rendezvous.claim([] { FAIL() << "waited for a stopper that does not exist"; });
    auto stopped = rendezvous.stop_others(
        0, [](std::uint32_t) -> ErrorOr<void> { ADD_FAILURE() << "sent an IPI to an offline CPU"; return {}; },
        [] { FAIL() << "waited with nobody to wait for"; });
    EXPECT_FALSE(stopped.is_error());
    EXPECT_EQ(rendezvous.stopper(), 0u);
    rendezvous.release_others([] { FAIL() << "waited with nobody parked"; });
    rendezvous.unclaim();
    EXPECT_EQ(rendezvous.stopper(), Rendezvous::kNoCpu);
    EXPECT_EQ(rendezvous.operations(), 1u);
    EXPECT_EQ(rendezvous.cpus_parked(), 0u);
}

// A handler that runs when no request is open (a stale or spurious IPI) returns at once.
TEST(StopRendezvous, AParkWithoutARequestReturnsAtOnce)
{
    Rendezvous rendezvous;
    ASSERT_TRUE(rendezvous.cpu_online(0) && rendezvous.cpu_online(1));
    EXPECT_FALSE(rendezvous.park(1, 0x1234, [] { FAIL() << "spun with nothing to wait for"; }, [] { FAIL() << "flushed"; }));
    EXPECT_FALSE(rendezvous.park(Rendezvous::kMaxCpus, 0, [] {}, [] {}));
    EXPECT_EQ(rendezvous.state(1), CpuState::Running);
    EXPECT_EQ(rendezvous.parked_stack_pointer(1), 0u);
}

// CPU 1 was asked, then the IPI to CPU 2 failed: the stop is refused, CPU 1 is put back without
// anyone waiting for it, and its handler arriving late finds nothing to park for.
TEST(StopRendezvous, AFailedIpiPutsTheCpusAskedBackAndALateHandlerDoesNotPark)
{
    Rendezvous rendezvous;
    for (std::uint32_t cpu = 0; cpu < 3; ++cpu)
        ASSERT_TRUE(rendezvous.cpu_online(cpu));
    std::vector<std::uint32_t> sent;
    rendezvous.claim(yield);
    auto stopped = rendezvous.stop_others(
        0,
        [&](std::uint32_t cpu) -> ErrorOr<void> {
            sent.push_back(cpu);
            if (cpu == 2)
                return Error::make(ErrorCode::Unsupported, "no stop IPI", cpu);
            return {};
        },
        [] { FAIL() << "waited for a CPU although the stop failed"; });
    ASSERT_TRUE(stopped.is_error());
    EXPECT_EQ(sent, (std::vector<std::uint32_t>{1, 2}));
    EXPECT_EQ(rendezvous.state(1), CpuState::Requested);
    rendezvous.release_others([] { FAIL() << "waited for a CPU that never parked"; });
    rendezvous.unclaim();
    EXPECT_EQ(rendezvous.state(1), CpuState::Running);
    EXPECT_EQ(rendezvous.state(2), CpuState::Running);
    EXPECT_FALSE(rendezvous.park(1, 0x1000, [] { FAIL() << "a late handler parked"; }, [] {}));
    EXPECT_EQ(rendezvous.operations(), 0u);
}

// The stopper sees every other CPU parked with its interrupted stack pointer published, none of
// them makes progress while the operation runs, and each flushes before it runs task code again.
TEST(StopRendezvous, NoOtherCpuRunsDuringTheOperationAndEachFlushesBeforeResuming)
{
    constexpr std::uint32_t kCpus = 4;
    constexpr int kStops = 12;
    Machine machine(kCpus);
    std::vector<std::thread> cpus;
    for (std::uint32_t cpu = 1; cpu < kCpus; ++cpu) {
        cpus.emplace_back([&machine, cpu] {
            while (!machine.finished.load(std::memory_order_acquire)) {
                machine.progress[cpu].fetch_add(1, std::memory_order_relaxed);
                machine.take_ipi(cpu);
            }
        });
    }
    int stops_with_progress = 0, unpublished_stack_pointers = 0;
    for (int stop = 0; stop < kStops; ++stop) {
        machine.rendezvous.claim(yield);
        std::uint64_t flushes_before[kCpus];
        for (std::uint32_t cpu = 1; cpu < kCpus; ++cpu)
            flushes_before[cpu] = machine.flushes[cpu].load();
        auto stopped = machine.rendezvous.stop_others(0, [&](std::uint32_t cpu) { return machine.send_ipi(cpu); }, yield);
        ASSERT_FALSE(stopped.is_error());
        // The operation: nobody else moves, and each parked CPU published where its task stopped.
        std::uint64_t before[kCpus];
        for (std::uint32_t cpu = 1; cpu < kCpus; ++cpu) {
            before[cpu] = machine.progress[cpu].load(std::memory_order_relaxed);
            unpublished_stack_pointers += machine.rendezvous.parked_stack_pointer(cpu) != 0x1000 + cpu;
            EXPECT_EQ(machine.rendezvous.state(cpu), CpuState::Parked);
        }
        for (int spin = 0; spin < 50; ++spin)
            yield();
        for (std::uint32_t cpu = 1; cpu < kCpus; ++cpu)
            stops_with_progress += machine.progress[cpu].load(std::memory_order_relaxed) != before[cpu];
        machine.rendezvous.release_others(yield);
        machine.rendezvous.unclaim();
        // release_others() returns once every CPU is Running again: each flushed on the way out.
        for (std::uint32_t cpu = 1; cpu < kCpus; ++cpu) {
            EXPECT_EQ(machine.flushes[cpu].load(), flushes_before[cpu] + 1) << "cpu " << cpu << ", stop " << stop;
            EXPECT_EQ(machine.rendezvous.state(cpu), CpuState::Running);
            EXPECT_EQ(machine.rendezvous.parked_stack_pointer(cpu), 0u);
        }
        // Every CPU runs task code again before the next stop.
        for (std::uint32_t cpu = 1; cpu < kCpus; ++cpu) {
            std::uint64_t resumed_from = machine.progress[cpu].load(std::memory_order_relaxed);
            while (machine.progress[cpu].load(std::memory_order_relaxed) == resumed_from)
                yield();
        }
    }
    machine.finished.store(true, std::memory_order_release);
    for (std::thread& thread : cpus)
        thread.join();
    EXPECT_EQ(stops_with_progress, 0);
    EXPECT_EQ(unpublished_stack_pointers, 0);
    EXPECT_EQ(machine.rendezvous.operations(), static_cast<std::uint64_t>(kStops));
    EXPECT_EQ(machine.rendezvous.cpus_parked(), static_cast<std::uint64_t>(kStops) * (kCpus - 1));
}

// Every CPU is also a stopper now and then. A CPU waiting for its turn keeps taking IPIs (the
// kernel waits with interrupts enabled), so two stoppers never wait on each other, operations
// never overlap, and during each one no other CPU makes progress.
TEST(StopRendezvous, SeveralStoppersTakeTurnsAndNeverOverlap)
{
    constexpr std::uint32_t kCpus = 3;
    constexpr int kStopsEach = 8;
    Machine machine(kCpus);
    std::atomic<int> inside{0}, overlaps{0}, stops_with_progress{0};
    std::atomic<std::uint32_t> done{0};
    std::vector<std::thread> cpus;
    for (std::uint32_t cpu = 0; cpu < kCpus; ++cpu) {
        cpus.emplace_back([&, cpu] {
            int stops = 0;
            // Keep running (and parking for the others) until every CPU has done its stops.
            while (done.load(std::memory_order_acquire) < kCpus) {
                machine.progress[cpu].fetch_add(1, std::memory_order_relaxed);
                machine.take_ipi(cpu);
                if (stops == kStopsEach || machine.progress[cpu].load(std::memory_order_relaxed) % 64 != 0)
                    continue;
                machine.rendezvous.claim([&] { machine.take_ipi(cpu); yield(); });
                auto stopped = machine.rendezvous.stop_others(cpu, [&](std::uint32_t other) { return machine.send_ipi(other); },
                                                              [&] { yield(); });
                if (!stopped.is_error()) {
                    if (inside.fetch_add(1) != 0)
                        overlaps.fetch_add(1);
                    std::uint64_t before[kCpus];
                    for (std::uint32_t other = 0; other < kCpus; ++other)
                        before[other] = machine.progress[other].load(std::memory_order_relaxed);
                    for (int spin = 0; spin < 20; ++spin)
                        yield();
                    for (std::uint32_t other = 0; other < kCpus; ++other) {
                        if (other != cpu && machine.progress[other].load(std::memory_order_relaxed) != before[other])
                            stops_with_progress.fetch_add(1);
                    }
                    inside.fetch_sub(1);
                }
                machine.rendezvous.release_others([&] { yield(); });
                machine.rendezvous.unclaim();
                EXPECT_FALSE(stopped.is_error());
                if (++stops == kStopsEach)
                    done.fetch_add(1, std::memory_order_release);
            }
        });
    }
    for (std::thread& thread : cpus)
        thread.join();
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_EQ(stops_with_progress.load(), 0);
    EXPECT_EQ(machine.rendezvous.operations(), static_cast<std::uint64_t>(kCpus) * kStopsEach);
}

} // namespace
