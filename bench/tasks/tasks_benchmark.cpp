// tasks_benchmark.cpp: delos-bench-tasks boots the guest with `bench-tasks`, reads the figures it
// prints (`bench-tasks: <name>_ns=<value> iterations=<n>`), measures the same work on Linux in
// this process (pthread_create+join, two threads ping-ponging over a futex, mmap+munmap of a
// touched 4 KiB page, getpid()), and prints both side by side, or one JSON object with --json.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "child_process.h"

using namespace delos::test;

namespace {

using Clock = std::chrono::steady_clock;

double nanoseconds_per(Clock::time_point start, long iterations)
{
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / static_cast<double>(iterations);
}

// --- Linux side -------------------------------------------------------------------------------

void* return_argument(void* argument) { return argument; }

double linux_spawn_join()
{
    constexpr long kIterations = 2000;
    auto start = Clock::now();
    for (long i = 0; i < kIterations; ++i) {
        pthread_t thread;
        if (pthread_create(&thread, nullptr, return_argument, reinterpret_cast<void*>(i)) != 0)
            return -1;
        void* result = nullptr;
        pthread_join(thread, &result);
        if (reinterpret_cast<long>(result) != i)
            return -1;
    }
    return nanoseconds_per(start, kIterations);
}

long futex(std::atomic<int>* word, int operation, int value)
{
    return ::syscall(SYS_futex, reinterpret_cast<int*>(word), operation | FUTEX_PRIVATE_FLAG, value, nullptr, nullptr, 0);
}

// Two threads hand a turn back and forth; each hand-over wakes the other and sleeps on the futex.
struct PingPong {
    std::atomic<int> turn{0};  // 0: main thread's turn, 1: echo thread's turn
    long rounds = 0;
};

void wait_for_turn(PingPong& game, int mine)
{
    int seen;
    while ((seen = game.turn.load(std::memory_order_acquire)) != mine)
        futex(&game.turn, FUTEX_WAIT, seen);
}

void pass_turn(PingPong& game, int to)
{
    game.turn.store(to, std::memory_order_release);
    futex(&game.turn, FUTEX_WAKE, 1);
}

void* echo_thread(void* argument)
{
    auto& game = *static_cast<PingPong*>(argument);
    for (long i = 0; i < game.rounds; ++i) {
        wait_for_turn(game, 1);
        pass_turn(game, 0);
    }
    return nullptr;
}

double linux_context_switch()
{
    PingPong game;
    game.rounds = 20000;
    pthread_t thread;
    if (pthread_create(&thread, nullptr, echo_thread, &game) != 0)
        return -1;
    auto start = Clock::now();
    for (long i = 0; i < game.rounds; ++i) {
        pass_turn(game, 1);
        wait_for_turn(game, 0);
    }
    double per_switch = nanoseconds_per(start, game.rounds * 2);
    pthread_join(thread, nullptr);
    return per_switch;
}

double linux_map_unmap()
{
    constexpr long kIterations = 20000;
    auto start = Clock::now();
    for (long i = 0; i < kIterations; ++i) {
        void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            return -1;
        *static_cast<volatile long*>(page) = i;  // Delos maps a zeroed frame; make Linux do the same
        ::munmap(page, 4096);
    }
    return nanoseconds_per(start, kIterations);
}

double linux_getpid()
{
    constexpr long kIterations = 200000;
    long sum = 0;
    auto start = Clock::now();
    for (long i = 0; i < kIterations; ++i)
        sum += ::syscall(SYS_getpid);  // the raw system call: glibc's getpid() is not cached, but be explicit
    double per_call = nanoseconds_per(start, kIterations);
    return sum > 0 ? per_call : -1;
}

// --- Delos side -------------------------------------------------------------------------------

// name -> nanoseconds per operation, from the guest's `bench-tasks: <name>_ns=<v>` lines.
std::map<std::string, double> parse_guest_figures(const std::string& output)
{
    std::map<std::string, double> figures;
    const std::string prefix = "bench-tasks: ";
    std::size_t at = 0;
    while ((at = output.find(prefix, at)) != std::string::npos) {
        at += prefix.size();
        std::size_t equals = output.find("_ns=", at);
        std::size_t line_end = output.find('\n', at);
        if (equals != std::string::npos && equals < line_end)
            figures[output.substr(at, equals - at)] = std::atof(output.c_str() + equals + 4);
    }
    return figures;
}

struct Row {
    const char* name;
    const char* delos_work;
    const char* linux_work;
    double delos_ns;
    double linux_ns;
};

} // namespace

int main(int argc, char** argv)
{
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            std::fprintf(stderr, "usage: delos-bench-tasks [--json]\n");
            return 2;
        }
    }
    std::string kernel = std::string(DELOS_BUILD_DIR) + "/guest/delos.elf";
    std::string vmm = std::string(DELOS_BUILD_DIR) + "/bin/delos-vmm";
    ChildOptions child_options;
    child_options.time_limit = std::chrono::minutes(5);
    // Without /dev/kvm the guest runs under QEMU TCG: its figures are an emulator's, so they are
    // not set against Linux's; the ratios inside the guest (same run, same emulator) still hold.
    bool emulated = !kvm_available();
    if (emulated)
        std::fprintf(stderr, "delos-bench-tasks: /dev/kvm is not available: the guest runs under QEMU TCG\n");
    ChildResult guest = emulated ? run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "128M", "-nodefaults",
                                              "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel, "-append",
                                              "bench-tasks", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio",
                                              "-monitor", "none"},
                                             child_options)
                                 : run_child({vmm, "--cmdline", "bench-tasks", kernel}, child_options);
    if (emulated && guest.exit_code == 1)
        guest.exit_code = 0;  // isa-debug-exit: the guest's exit code 0 is QEMU's (0 << 1) | 1
    if (guest.exit_code != 0 || guest.out.find("bench-tasks: done") == std::string::npos) {
        std::fprintf(stderr, "delos-bench-tasks: the guest run failed (exit %d%s)\n%s%s", guest.exit_code,
                     guest.timed_out ? ", timed out" : "", guest.out.c_str(), guest.err.c_str());
        return 1;
    }
    std::map<std::string, double> delos = parse_guest_figures(guest.out);
    auto figure = [&](const char* name) { return delos.count(name) ? delos[name] : -1.0; };

    Row rows[] = {
        {"spawn_join", "spawn + join a task", "pthread_create + join", figure("spawn_join"), linux_spawn_join()},
        {"context_switch", "task switch over a channel", "thread switch over a futex", figure("context_switch"), linux_context_switch()},
        {"map_unmap", "MappedPages 4 KiB", "mmap + touch + munmap", figure("map_unmap"), linux_map_unmap()},
        {"cell_call", "call into another cell", "getpid()", figure("cell_call"), linux_getpid()},
    };

    // Inside the guest, in the same run: the cost of a mechanism over the same work without it.
    struct InGuest {
        const char* name;
        const char* what;
        const char* baseline;
    };
    const InGuest in_guest[] = {
        {"cell_call_gate", "a call through the cell call gate", "cell_call"},
        {"copy64_memcpy", "64 B memcpy, heap-bounded", "copy64_unchecked"},
    };

    if (json) {
        std::printf("{\"accelerator\": \"%s\"", emulated ? "tcg" : "kvm");
        for (const Row& row : rows) {
            if (emulated)
                std::printf(", \"%s_ns\": %.1f", row.name, row.delos_ns);
            else
                std::printf(", \"%s_ns\": %.1f, \"linux_%s_ns\": %.1f", row.name, row.delos_ns, row.name, row.linux_ns);
        }
        for (const InGuest& figure_in_guest : in_guest) {
            double ns = figure(figure_in_guest.name), baseline = figure(figure_in_guest.baseline);
            std::printf(", \"%s_ns\": %.1f, \"%s_over_%s\": %.3f", figure_in_guest.name, ns, figure_in_guest.name, figure_in_guest.baseline,
                        baseline > 0 ? ns / baseline : 0.0);
        }
        std::printf("}\n");
        return 0;
    }
    auto print_in_guest = [&] {
        std::printf("\n%-15s %-34s %10s   %-18s %10s   %s\n", "in the guest", "work", "ns/op", "baseline", "ns/op", "ratio");
        for (const InGuest& figure_in_guest : in_guest) {
            double ns = figure(figure_in_guest.name), baseline = figure(figure_in_guest.baseline);
            std::printf("%-15s %-34s %10.1f   %-18s %10.1f   %.3f\n", figure_in_guest.name, figure_in_guest.what, ns,
                        figure_in_guest.baseline, baseline, baseline > 0 ? ns / baseline : 0.0);
        }
    };
    if (emulated) {
        std::printf("QEMU TCG (no /dev/kvm): the guest's figures are emulated, not set against Linux\n");
        std::printf("%-15s %-28s %14s\n", "figure", "Delos (guest, TCG)", "ns/op");
        for (const Row& row : rows)
            std::printf("%-15s %-28s %14.1f\n", row.name, row.delos_work, row.delos_ns);
        print_in_guest();
        return 0;
    }
    std::printf("%-15s %-28s %14s   %-24s %12s   %s\n", "figure", "Delos (guest)", "ns/op", "Linux (host threads)", "ns/op",
                "Linux/Delos (target >= 2)");
    for (const Row& row : rows) {
        double ratio = row.delos_ns > 0 ? row.linux_ns / row.delos_ns : 0;
        std::printf("%-15s %-28s %14.1f   %-24s %12.1f   %.3f %s\n", row.name, row.delos_work, row.delos_ns, row.linux_work,
                    row.linux_ns, ratio, ratio >= 2 ? "met" : "NOT met");
    }
    print_in_guest();
    return 0;
}
