// task_benchmark.cpp: measurements for delos-bench-tasks, timed with the TSC.
#include "diagnostics/task_benchmark.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "memory/mapped_pages.h"
#include "runtime/cell_call_gate.h"
#include "task/channel.h"
#include "task/spawn.h"

extern "C" void* memcpy(void* destination, const void* source, std::size_t count);  // runtime/memory_functions.cpp

namespace delos::diagnostics {

using namespace task;

namespace {

// Small counts: this host runs the guest by instruction emulation (see docs/tasks-and-scheduling.md).
constexpr std::uint64_t kSpawnJoinIterations = 200;
constexpr std::uint64_t kPingPongRounds = 200;
constexpr std::uint64_t kMapUnmapIterations = 200;
constexpr std::uint64_t kCellCallIterations = 2000;

void report(const char* name, std::uint64_t ticks, std::uint64_t iterations)
{
    std::uint64_t total_ns = tsc::ticks_to_nanoseconds(ticks);
    kprint("bench-tasks: {}_ns={} iterations={}\n", name, total_ns / iterations, iterations);
}

void bench_spawn_join()
{
    std::uint64_t start = cpu::read_tsc();
    for (std::uint64_t i = 0; i < kSpawnJoinIterations; ++i) {
        auto handle = spawn("bench", [i] { return i; });
        if (handle.is_error() || handle->join().value() != i) {
            kprint("bench-tasks: spawn_join failed\n");
            return;
        }
    }
    report("spawn_join", cpu::read_tsc() - start, kSpawnJoinIterations);
}

void bench_context_switch()
{
    auto to_echo = make_channel<std::uint64_t>(1);
    auto from_echo = make_channel<std::uint64_t>(1);
    if (to_echo.is_error() || from_echo.is_error()) {
        kprint("bench-tasks: context_switch failed: no channel\n");
        return;
    }
    auto echo = spawn("echo", [in = std::move(to_echo->receiver), out = std::move(from_echo->sender)]() mutable {
        for (;;) {
            auto value = in.receive();
            if (value.is_error())
                return;
            if (out.send(value.value()).is_error())
                return;
        }
    });
    if (echo.is_error())
        return;
    Sender<std::uint64_t> out = std::move(to_echo->sender);
    Receiver<std::uint64_t> in = std::move(from_echo->receiver);
    (void)out.send(0);  // let the echo task start and block
    (void)in.receive();
    std::uint64_t start = cpu::read_tsc();
    for (std::uint64_t i = 0; i < kPingPongRounds; ++i) {
        (void)out.send(i);
        (void)in.receive();
    }
    std::uint64_t ticks = cpu::read_tsc() - start;
    out.close();
    (void)echo->join();
    report("context_switch", ticks, kPingPongRounds * 2);  // two switches per round trip
}

void bench_map_unmap()
{
    std::uint64_t start = cpu::read_tsc();
    for (std::uint64_t i = 0; i < kMapUnmapIterations; ++i) {
        auto pages = memory::MappedPages::allocate(1);
        if (pages.is_error()) {
            kprint("bench-tasks: map_unmap failed\n");
            return;
        }
        *pages->as<volatile std::uint64_t>() = i;
    }
    report("map_unmap", cpu::read_tsc() - start, kMapUnmapIterations);
}

// A cross-cell call after the loader has linked it is a direct call to a relocated address;
// until cells are loaded at run time, the callee is kernel code reached through a pointer the
// compiler cannot see through, which is what a relocated call site amounts to.
[[gnu::noinline]] std::uint64_t cell_entry(std::uint64_t value) { return value + 1; }
std::uint64_t (*volatile g_cell_entry)(std::uint64_t) = cell_entry;

void bench_cell_call()
{
    std::uint64_t sum = 0;
    std::uint64_t start = cpu::read_tsc();
    for (std::uint64_t i = 0; i < kCellCallIterations; ++i)
        sum = g_cell_entry(sum);
    std::uint64_t ticks = cpu::read_tsc() - start;
    if (sum != kCellCallIterations)
        kprint("bench-tasks: cell_call failed\n");
    report("cell_call", ticks, kCellCallIterations);
}

// The same call through the cell call gate (runtime/cell_call_gate.h): its save-area slot, the
// poisoned registers, the 2 KiB scrub below the caller and the restore, per call.
void bench_cell_call_through_gate()
{
    std::uint64_t sum = 0;
    const void* entry = reinterpret_cast<const void*>(g_cell_entry);
    std::uint64_t start = cpu::read_tsc();
    for (std::uint64_t i = 0; i < kCellCallIterations; ++i)
        sum = delos_cell_call_gate(entry, sum, 0, 0, 0);
    std::uint64_t ticks = cpu::read_tsc() - start;
    if (sum != kCellCallIterations)
        kprint("bench-tasks: cell_call_gate failed\n");
    report("cell_call_gate", ticks, kCellCallIterations);
}

// memcpy into a heap block, which asks the heap first (memory::heap_write_fits: nothing is
// written past the block's end), beside the same copy without asking, in the same run: the
// check's cost per call. Called through pointers so neither is inlined or elided.
constexpr std::uint64_t kCopyIterations = 20000;
constexpr std::size_t kCopyBytes = 64;

[[gnu::noinline]] void* unchecked_copy(void* destination, const void* source, std::size_t count)
{
    void* result = destination;
    std::size_t words = count / 8, tail = count % 8;
    asm volatile("rep movsq" : "+D"(destination), "+S"(source), "+c"(words)::"memory");
    asm volatile("rep movsb" : "+D"(destination), "+S"(source), "+c"(tail)::"memory");
    return result;
}
void* (*volatile g_checked_copy)(void*, const void*, std::size_t) = memcpy;
void* (*volatile g_unchecked_copy)(void*, const void*, std::size_t) = unchecked_copy;

void bench_heap_checked_copy()
{
    auto* destination = new std::uint8_t[kCopyBytes];
    auto* source = new std::uint8_t[kCopyBytes]{};
    std::uint64_t ticks[2] = {};
    for (int round = 0; round < 2; ++round) {  // the unchecked copy first, then memcpy
        auto* copy = round == 0 ? g_unchecked_copy : g_checked_copy;
        std::uint64_t start = cpu::read_tsc();
        for (std::uint64_t i = 0; i < kCopyIterations; ++i)
            copy(destination, source, kCopyBytes);
        ticks[round] = cpu::read_tsc() - start;
    }
    delete[] destination;
    delete[] source;
    report("copy64_unchecked", ticks[0], kCopyIterations);
    report("copy64_memcpy", ticks[1], kCopyIterations);
}

} // namespace

void run_task_benchmarks()
{
    kprint("bench-tasks: start\n");
    bench_spawn_join();
    bench_context_switch();
    bench_map_unmap();
    bench_cell_call();
    bench_cell_call_through_gate();
    bench_heap_checked_copy();
    kprint("bench-tasks: done\n");
}

} // namespace delos::diagnostics
