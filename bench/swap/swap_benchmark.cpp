// swap_benchmark.cpp: delos-bench-swap: how long live evolution takes, for the 64 KiB wide cell
// with three dependents (wide_user_a/b/c), swapped between its two versions:
//  - host: the freestanding swap (guest/linker, the code the guest runs) over low mmap'd
//    memory, >= 100 swaps: median and p99 of the whole swap, each stage, and a fresh load of
//    the same cell as the baseline;
//  - guest: the same swap inside the running guest (`bench-swap`), under delos-vmm when KVM is
//    available, else under QEMU TCG (an emulator: its figures are not the hardware's);
//  - push + swap over the control channel end to end: under delos-vmm when KVM is available,
//    else under QEMU microvm (TCG) on its chardev socket.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "background_process.h"
#include "cell_push.h"
#include "channel_client.h"
#include "child_process.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::host;
using Clock = std::chrono::steady_clock;

namespace {

std::uint64_t steady_ns()
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

double median(std::vector<double> values)
{
    if (values.empty())
        return -1;
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

double p99(std::vector<double> values)
{
    if (values.empty())
        return -1;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, values.size() * 99 / 100)];
}

// The guest the VM figures boot: build/guest/delos.elf, or DELOS_BENCH_KERNEL (e.g. an older
// build's, to compare guest changes on the same machine at the same time).
std::string guest_kernel(const std::string& build)
{
    const char* other = std::getenv("DELOS_BENCH_KERNEL");
    return other && *other ? other : build + "/guest/delos.elf";
}

double field(const std::string& text, const std::string& key)
{
    auto at = text.find(" " + key + "=");
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + key.size() + 2);
}

std::string number(double value, int decimals = 1)
{
    if (value < 0)
        return "null";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

std::string ratio(double value, double baseline) { return value < 0 || baseline <= 0 ? "null" : number(value / baseline, 2); }

// Section memory from one pre-mapped low pool, permissions not changed (no syscalls): what is
// left is the linker library's own work. (The cells are never run here, so W^X is not needed.)
class PoolSectionMemory final : public link::SectionMemory {
public:
    static constexpr std::uint64_t kPoolBytes = 64ull << 20;
    PoolSectionMemory()
    {
        void* base = mmap(nullptr, kPoolBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT | MAP_POPULATE, -1, 0);
        if (base == MAP_FAILED)
            std::abort();
        m_base = reinterpret_cast<std::uint64_t>(base);
        m_used.assign(kPoolBytes / link::kPageSize, false);
    }
    ~PoolSectionMemory() { munmap(reinterpret_cast<void*>(m_base), kPoolBytes); }

    ErrorOr<link::Region> allocate(std::uint64_t size, std::uint64_t alignment) override
    {
        std::uint64_t pages = size / link::kPageSize, step = alignment / link::kPageSize;
        for (std::uint64_t first = (((m_base + alignment - 1) & ~(alignment - 1)) - m_base) / link::kPageSize;
             first + pages <= m_used.size(); first += step) {
            bool free = true;
            for (std::uint64_t page = first; page < first + pages && free; ++page)
                free = !m_used[page];
            if (!free)
                continue;
            for (std::uint64_t page = first; page < first + pages; ++page)
                m_used[page] = true;
            return link::Region{m_base + first * link::kPageSize, size};
        }
        return Error::make(ErrorCode::OutOfMemory, "bench: pool exhausted", size);
    }
    ErrorOr<void> protect(link::Region, link::Permissions) override { return {}; }
    void release(link::Region region) override
    {
        for (std::uint64_t page = (region.address - m_base) / link::kPageSize; page < (region.address + region.size - m_base) / link::kPageSize; ++page)
            m_used[page] = false;
    }

private:
    std::uint64_t m_base = 0;
    std::vector<bool> m_used;
};

struct HostFigures {
    std::vector<double> swap_us, stage_us[link::kSwapStageCount], fresh_load_us;
    std::size_t cell_bytes = 0, object_bytes = 0;
    std::uint32_t relocations = 0, repoint_permission_changes = 0;
    std::vector<double> permission_changes;  // protect() calls per swap, all stages (counted by `protections`)
    std::string error;
};

HostFigures measure_host(int swaps, link::SectionMemory& memory, const std::uint64_t* protections)
{
    HostFigures figures;
    RecordingInvoker invoker;
    HostKernel kernel;
    link::Namespace space(memory, invoker);
    kernel.install(space);
    space.set_clock(&steady_ns);

    // Both versions are archive members, as in the guest's boot archive: the swap takes the
    // object from guest memory, and each member's build id is hashed once, at its first use.
    std::vector<std::pair<std::string, Bytes>> members;
    for (const char* cell : {"wide", "wide.v2", "wide_user_a", "wide_user_b", "wide_user_c"})
        members.emplace_back(std::string(cell) + ".o", cell_bytes(cell));
    Bytes archive = make_archive(members);
    if (members[0].second.empty() || members[1].second.empty()) {
        figures.error = "build the cells target first (build/cells/wide.o, wide.v2.o)";
        return figures;
    }
    auto library = link::CellLibrary::from_archive(view(archive));
    if (library.is_error() || !library.value().find_cell("wide") || !library.value().find_version("wide.v2")) {
        figures.error = "cannot index the wide cells";
        return figures;
    }
    ByteView v1 = library.value().find_cell("wide")->object, v2 = library.value().find_version("wide.v2")->object;
    figures.object_bytes = v2.size();
    auto load_users = [&]() -> bool {
        for (const char* user : {"wide_user_a", "wide_user_b", "wide_user_c"}) {
            if (space.load_cell(user, library.value()).is_error())
                return false;
        }
        return true;
    };
    // Baseline: a fresh load of the same cell (its dependents unloaded and loaded around it).
    for (int run = 0; run < 21; ++run) {
        auto start = Clock::now();
        auto loaded = space.load_cell("wide", library.value());
        figures.fresh_load_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        if (loaded.is_error() || !load_users()) {
            figures.error = "loading wide: " + str(space.last_failure());
            return figures;
        }
        if (space.unload_cells(Vector<StringView>{"wide_user_a", "wide_user_b", "wide_user_c", "wide"}).is_error()) {
            figures.error = "unloading wide: " + str(space.last_failure());
            return figures;
        }
    }
    if (space.load_cell("wide", library.value()).is_error() || !load_users()) {
        figures.error = "loading wide: " + str(space.last_failure());
        return figures;
    }
    for (int run = 0; run < swaps; ++run) {
        ByteView next = run % 2 == 0 ? v2 : v1;
        std::uint64_t protections_before = protections ? *protections : 0;
        auto swapped = space.swap_cells(Vector<link::SwapPair>{link::SwapPair{"wide", next, true}}, &library.value());
        if (swapped.is_error()) {
            figures.error = "swap: " + str(space.last_failure());
            return figures;
        }
        figures.swap_us.push_back(swapped.value().total_ns / 1e3);
        if (protections)
            figures.permission_changes.push_back(static_cast<double>(*protections - protections_before));
        for (int stage = 0; stage < link::kSwapStageCount; ++stage)
            figures.stage_us[stage].push_back(swapped.value().stage_ns[stage] / 1e3);
        figures.relocations = swapped.value().relocations_repointed;
        figures.repoint_permission_changes = swapped.value().repoint_permission_changes;
    }
    for (const link::Region& region : space.find_cell("wide")->regions())
        figures.cell_bytes += region.size;
    return figures;
}

struct GuestFigures {
    std::string hypervisor;  // "delos-vmm (KVM)" or "QEMU TCG (emulated)"
    std::string line;
    std::string error;
};

GuestFigures measure_guest(const std::string& build)
{
    GuestFigures figures;
    std::string kernel = guest_kernel(build), archive = build + "/cells/swap-test.a";
    delos::test::ChildResult result;
    if (delos::test::kvm_available()) {
        figures.hypervisor = "delos-vmm (KVM)";
        result = delos::test::run_child({build + "/bin/delos-vmm", "--module", archive, "--cmdline", "bench-swap", kernel},
                                        {std::chrono::seconds(600), ""});
    } else if (delos::test::program_exists("qemu-system-x86_64")) {
        figures.hypervisor = "QEMU TCG (emulated)";
        result = delos::test::run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "64M", "-nodefaults",
                                         "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", archive,
                                         "-append", "bench-swap", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial",
                                         "stdio", "-monitor", "none"},
                                        {std::chrono::seconds(600), ""});
    } else {
        figures.error = "neither KVM nor QEMU is available";
        return figures;
    }
    auto at = result.out.find("bench-swap: swaps=");
    if (at == std::string::npos) {
        figures.error = "the guest printed no bench-swap line (exit " + std::to_string(result.exit_code) + ")";
        return figures;
    }
    figures.line = result.out.substr(at, result.out.find('\n', at) - at);
    return figures;
}

struct ChannelFigures {
    std::vector<double> push_swap_ms, push_load_ms;
    std::vector<double> push_swap_sequential_ms;  // baseline: push, then swap, each step awaited
    // Where the pipelined push + swap goes: the push (all sent; until the commit's reply is read:
    // transfer, the guest's digest, the replies), the swap (commit reply read -> swap reply read),
    // and inside that the swap as the guest timed it (SwapTiming.total_ns).
    std::vector<double> push_ms, swap_call_ms, guest_swap_ms;
    std::string hypervisor;  // "delos-vmm (KVM)" or "QEMU microvm TCG (emulated)"
    std::string error;
};

std::string read_all(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ChannelFigures measure_channel(const std::string& build, int swaps)
{
    ChannelFigures figures;
    std::string socket = "/tmp/delos-bench-swap-" + std::to_string(::getpid()) + ".sock";
    std::vector<std::string> command;
    if (delos::test::kvm_available()) {
        figures.hypervisor = "delos-vmm (KVM)";
        command = {build + "/bin/delos-vmm", "--module", build + "/cells/swap-test.a", "--control-socket", socket,
                   guest_kernel(build)};
    } else if (delos::test::program_exists("qemu-system-x86_64")) {
        // The channel on QEMU microvm's virtio-mmio console (docs/qemu-and-libvirt.md).
        figures.hypervisor = "QEMU microvm TCG (emulated)";
        command = {"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm,acpi=off", "-m", "256M", "-nodefaults",
                   "-no-user-config", "-nographic", "-no-reboot", "-kernel", guest_kernel(build), "-initrd",
                   build + "/cells/swap-test.a", "-append", "run", "-serial", "stdio", "-monitor", "none", "-global",
                   "virtio-mmio.force-legacy=false", "-device", "virtio-serial-device", "-device",
                   "virtserialport,name=org.delos.control.0,chardev=control", "-chardev",
                   "socket,id=control,path=" + socket + ",server=on,wait=off"};
    } else {
        figures.error = "neither KVM (delos-vmm) nor qemu-system-x86_64 is available";
        return figures;
    }
    ::unlink(socket.c_str());
    delos::test::BackgroundProcess vm(command);
    if (!vm.wait_for_output("control: serving the channel", std::chrono::seconds(300))) {
        figures.error = "the guest did not start its control agent";
        return figures;
    }
    std::string v1 = read_all(build + "/cells/wide.o"), v2 = read_all(build + "/cells/wide.v2.o");
    try {
        chan::ChannelClient client(socket, std::chrono::milliseconds(60000));
        client.hello("delos-bench-swap");
        chan::PushSettings settings;
        // Rounds alternate in pairs (v2 then v1 each time): the pipelined push + swap (protocol 2,
        // one round trip) and, as the baseline, the same done step by step (push_cell, then a
        // SwapCells call: begin, commit and swap each wait for their reply).
        v1::SwapCellsRequest swap;
        swap.add_pairs()->set_old_cell("wide");
        for (int run = 0; run < 2 * swaps; ++run) {
            const std::string& next = run % 2 == 0 ? v2 : v1;
            bool pipelined = (run / 2) % 2 == 0;
            auto start = Clock::now();
            if (pipelined) {
                chan::PushSwapResult result = chan::push_and_swap_cell(client, "wide", next, settings, swap);
                auto end = Clock::now();
                if (!result.pipelined)
                    throw std::runtime_error("the guest does not speak protocol 2 (push references)");
                figures.push_swap_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
                figures.push_ms.push_back(result.push.seconds * 1e3);
                figures.swap_call_ms.push_back(result.swap_seconds * 1e3);
                figures.guest_swap_ms.push_back(result.swapped.swapped().timing().total_ns() / 1e6);
                continue;
            }
            chan::push_cell(client, "wide", next, settings);
            v1::HostMessage message;
            *message.mutable_swap_cells() = swap;
            client.call(std::move(message));
            figures.push_swap_sequential_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
        // Baseline: push + load of a cell nobody uses (hello), unloaded in between.
        std::string hello = read_all(build + "/cells/hello.o");
        for (int run = 0; run < std::min(swaps, 21); ++run) {
            auto start = Clock::now();
            chan::push_cell(client, "hello", hello, settings);
            v1::HostMessage load;
            load.mutable_load_cell()->set_name("hello");
            client.call(std::move(load));
            figures.push_load_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
            v1::HostMessage unload;
            unload.mutable_unload_cell()->set_name("hello");
            client.call(std::move(unload));
        }
    } catch (const std::exception& error) {
        figures.error = error.what();
    }
    ::unlink(socket.c_str());
    return figures;
}

} // namespace

int main(int argc, char** argv)
{
    bool json = false, host_only = false;
    int swaps = 200;
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--json")
            json = true;
        else if (argument == "--host-only")
            host_only = true;  // skip the guest and channel parts (minutes under TCG)
        else if (argument == "--swaps" && i + 1 < argc)
            swaps = std::max(100, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: delos-bench-swap [--swaps N (>= 100)] [--host-only] [--json]\n");
            return 2;
        }
    }
    std::string build = DELOS_BUILD_DIR;
    HostSectionMemory mapped;  // mmap + mprotect per region: the host kernel's page work included
    HostFigures host = measure_host(swaps, mapped, &mapped.protections);
    PoolSectionMemory pool;     // no syscalls: the library's own work
    HostFigures library_only = measure_host(swaps, pool, nullptr);
    for (const HostFigures* figures : {&host, &library_only}) {
        if (!figures->error.empty()) {
            std::fprintf(stderr, "delos-bench-swap: host: %s\n", figures->error.c_str());
            return 1;
        }
    }
    double lib_swap_us = median(library_only.swap_us), lib_p99 = p99(library_only.swap_us);
    double lib_repoint_us = median(library_only.stage_us[4]), lib_fresh_us = median(library_only.fresh_load_us);
    GuestFigures guest;
    ChannelFigures channel;
    if (host_only) {
        guest.error = channel.error = "skipped (--host-only)";
    } else {
        guest = measure_guest(build);
        channel = measure_channel(build, 100);
    }
    double permission_changes = median(host.permission_changes);

    double swap_us = median(host.swap_us), swap_p99 = p99(host.swap_us), fresh_us = median(host.fresh_load_us);
    double stage[link::kSwapStageCount];
    for (int i = 0; i < link::kSwapStageCount; ++i)
        stage[i] = median(host.stage_us[i]);
    double guest_swap_us = field(guest.line, "swap_ns_median") / 1e3, guest_p99_us = field(guest.line, "swap_ns_p99") / 1e3;
    double guest_repoint_us = field(guest.line, "repoint_ns_median") / 1e3;
    double guest_fresh_us = field(guest.line, "fresh_load_ns_median") / 1e3;
    if (guest.line.empty())
        guest_swap_us = guest_p99_us = guest_repoint_us = guest_fresh_us = -1;
    double push_swap_ms = median(channel.push_swap_ms), push_load_ms = median(channel.push_load_ms);

    if (json) {
        std::printf("{\"swaps\":%d,\"cell_bytes\":%zu,\"object_bytes\":%zu,\"dependents\":3,\"relocations_repointed\":%u,"
                    "\"permission_changes_per_swap\":%s,\"repoint_permission_changes\":%u,\"swap_us_median\":%s,\"swap_us_p99\":%s,\"repoint_us_median\":%s,",
                    swaps, host.cell_bytes, host.object_bytes, host.relocations, number(permission_changes, 0).c_str(), host.repoint_permission_changes, number(swap_us, 2).c_str(),
                    number(swap_p99, 2).c_str(), number(stage[4], 2).c_str());
        std::printf("\"stages_us_median\":{");
        for (int i = 0; i < link::kSwapStageCount; ++i)
            std::printf("%s\"%s\":%s", i ? "," : "", link::swap_stage_name(static_cast<link::SwapStage>(i)), number(stage[i], 2).c_str());
        std::printf("},\"fresh_load_us_median\":%s,\"swap_vs_fresh_load\":%s,\"where\":\"host (freestanding library, mmap'd low memory)\",",
                    number(fresh_us, 2).c_str(), ratio(swap_us, fresh_us).c_str());
        std::printf("\"library_only\":{\"swap_us_median\":%s,\"swap_us_p99\":%s,\"repoint_us_median\":%s,"
                    "\"fresh_load_us_median\":%s,\"swap_vs_fresh_load\":%s},",
                    number(lib_swap_us, 2).c_str(), number(lib_p99, 2).c_str(), number(lib_repoint_us, 2).c_str(),
                    number(lib_fresh_us, 2).c_str(), ratio(lib_swap_us, lib_fresh_us).c_str());
        std::printf("\"guest\":{\"hypervisor\":\"%s\",\"swap_us_median\":%s,\"swap_us_p99\":%s,\"repoint_us_median\":%s,"
                    "\"fresh_load_us_median\":%s,\"swap_vs_fresh_load\":%s,\"error\":\"%s\"},",
                    guest.hypervisor.c_str(), number(guest_swap_us).c_str(), number(guest_p99_us).c_str(),
                    number(guest_repoint_us).c_str(), number(guest_fresh_us).c_str(), ratio(guest_swap_us, guest_fresh_us).c_str(),
                    guest.error.c_str());
        std::printf("\"push_swap_ms_median\":%s,\"push_swap_ms_p99\":%s,\"push_load_ms_median\":%s,\"push_swap_hypervisor\":\"%s\","
                    "\"push_swap_breakdown_ms_median\":{\"push\":%s,\"swap_call\":%s,\"guest_swap\":%s},"
                    "\"push_swap_sequential_ms_median\":%s,\"push_swap_vs_sequential\":%s,\"push_swap_error\":\"%s\"}\n",
                    number(push_swap_ms, 3).c_str(), number(p99(channel.push_swap_ms), 3).c_str(), number(push_load_ms, 3).c_str(),
                    channel.hypervisor.c_str(), number(median(channel.push_ms), 3).c_str(), number(median(channel.swap_call_ms), 3).c_str(),
                    number(median(channel.guest_swap_ms), 3).c_str(), number(median(channel.push_swap_sequential_ms), 3).c_str(),
                    ratio(push_swap_ms, median(channel.push_swap_sequential_ms)).c_str(), channel.error.c_str());
        return 0;
    }
    std::printf("delos-bench-swap: wide (%zu bytes loaded, %zu-byte object) with 3 dependents, %d swaps 1.0.0 <-> 2.0.0\n",
                host.cell_bytes, host.object_bytes, swaps);
    std::printf("\nhost, freestanding swap library (the guest's code) over mmap'd low memory:\n");
    std::printf("  %-34s %10s us   (target <= 1000 us; Theseus's logged swap ~29 ms)\n", "whole swap, median", number(swap_us, 2).c_str());
    std::printf("  %-34s %10s us\n", "whole swap, p99", number(swap_p99, 2).c_str());
    for (int i = 0; i < link::kSwapStageCount; ++i)
        std::printf("  %-34s %10s us%s\n", (std::string("  ") + link::swap_stage_name(static_cast<link::SwapStage>(i))).c_str(),
                    number(stage[i], 2).c_str(), i == 4 ? "   (target <= 50 us; Theseus 289 us)" : "");
    std::printf("  %-34s %10s us   (baseline; swap = %sx)\n", "fresh load of the same cell", number(fresh_us, 2).c_str(),
                ratio(swap_us, fresh_us).c_str());
    std::printf("  relocations re-pointed per swap: %u\n", host.relocations);
    std::printf("  permission changes per swap (protect calls, all stages, median): %s, of them in the re-point: %u\n",
                number(permission_changes, 0).c_str(), host.repoint_permission_changes);
    std::printf("\nhost, the same with pooled memory and no permission changes (no syscalls: the library's own work):\n");
    std::printf("  %-34s %10s us\n", "whole swap, median", number(lib_swap_us, 2).c_str());
    std::printf("  %-34s %10s us\n", "whole swap, p99", number(lib_p99, 2).c_str());
    std::printf("  %-34s %10s us\n", "re-point, median", number(lib_repoint_us, 2).c_str());
    std::printf("  %-34s %10s us   (baseline; swap = %sx)\n", "fresh load of the same cell", number(lib_fresh_us, 2).c_str(),
                ratio(lib_swap_us, lib_fresh_us).c_str());
    std::printf("\nguest, %s:\n", guest.hypervisor.empty() ? "not run" : guest.hypervisor.c_str());
    if (!guest.error.empty()) {
        std::printf("  %s\n", guest.error.c_str());
    } else {
        std::printf("  %-34s %10s us\n", "whole swap, median", number(guest_swap_us).c_str());
        std::printf("  %-34s %10s us\n", "whole swap, p99", number(guest_p99_us).c_str());
        std::printf("  %-34s %10s us\n", "re-point, median", number(guest_repoint_us).c_str());
        std::printf("  %-34s %10s us   (baseline; swap = %sx)\n", "fresh load of the same cell", number(guest_fresh_us).c_str(),
                    ratio(guest_swap_us, guest_fresh_us).c_str());
        std::printf("  (%s)\n", guest.line.c_str());
        if (guest.hypervisor.find("TCG") != std::string::npos)
            std::printf("  QEMU TCG emulates every instruction and page-table change: these are not hardware figures, and they\n"
                        "  are only as right as the guest's TSC calibration under QEMU microvm (see docs/live-evolution.md)\n");
    }
    std::printf("\npush + swap of wide (64 KiB) over the control channel, %s:\n",
                channel.hypervisor.empty() ? "not run" : channel.hypervisor.c_str());
    if (!channel.error.empty()) {
        std::printf("  not measured: %s\n", channel.error.c_str());
    } else {
        std::printf("  %-34s %10s ms   (target <= 5 ms; baseline push + load of hello %s ms)\n", "push + swap, median",
                    number(push_swap_ms, 3).c_str(), number(push_load_ms, 3).c_str());
        std::printf("  %-34s %10s ms\n", "push + swap, p99", number(p99(channel.push_swap_ms), 3).c_str());
        std::printf("  %-34s %10s ms   (baseline, same run: push, then SwapCells, each step awaited; pipelined = %sx)\n",
                    "step-by-step push + swap, median", number(median(channel.push_swap_sequential_ms), 3).c_str(),
                    ratio(push_swap_ms, median(channel.push_swap_sequential_ms)).c_str());
        std::printf("  %-34s %10s ms   (all sent; until the commit's reply is read)\n", "  push, median", number(median(channel.push_ms), 3).c_str());
        std::printf("  %-34s %10s ms   (commit reply -> swap reply)\n", "  swap, median", number(median(channel.swap_call_ms), 3).c_str());
        std::printf("  %-34s %10s ms   (the guest's own timing of the swap)\n", "    of it the swap, median",
                    number(median(channel.guest_swap_ms), 3).c_str());
    }
    return 0;
}
