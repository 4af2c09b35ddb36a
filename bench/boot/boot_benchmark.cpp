// boot_benchmark.cpp: delos-bench-boot boots the guest N times under delos-vmm and, in the same
// run, under QEMU (-M microvm and -M pc, both PVH from the same delos.elf), and prints the
// median and spread of "process start -> guest ready line", the ratios, and the VMM's memory
// overhead (resident memory beyond the guest RAM the guest touched).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "child_process.h"

using namespace delos::test;

namespace {

struct Series {
    std::string name;
    std::vector<double> samples;  // ms
    int failures = 0;

    double percentile(double p) const
    {
        if (samples.empty())
            return -1;
        std::vector<double> sorted = samples;
        std::sort(sorted.begin(), sorted.end());
        double index = p * static_cast<double>(sorted.size() - 1);
        std::size_t low = static_cast<std::size_t>(index);
        std::size_t high = std::min(low + 1, sorted.size() - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (index - static_cast<double>(low));
    }
    double median() const { return percentile(0.5); }
};

struct Options {
    int runs = 5;
    bool json = false;
    bool qemu = true;
    std::string memory = "64M";
};

double parse_after(const std::string& text, const std::string& key)
{
    auto at = text.find(key);
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + key.size());
}

std::string json_number(double value) { return value < 0 ? "null" : std::to_string(value); }

} // namespace

int main(int argc, char** argv)
{
    Options options;
    bool show_progress = ::isatty(STDERR_FILENO);
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--json")
            options.json = true;
        else if (argument == "--runs" && i + 1 < argc)
            options.runs = std::max(1, std::atoi(argv[++i]));
        else if (argument == "--no-qemu")
            options.qemu = false;
        else {
            std::fprintf(stderr, "usage: delos-bench-boot [--runs N] [--no-qemu] [--json]\n");
            return 2;
        }
    }
    if (!kvm_available()) {
        std::fprintf(stderr, "delos-bench-boot: /dev/kvm is not available\n");
        return 1;
    }
    std::string kernel = std::string(DELOS_BUILD_DIR) + "/guest/delos.elf";
    std::string vmm = std::string(DELOS_BUILD_DIR) + "/bin/delos-vmm";
    bool have_qemu = options.qemu && program_exists("qemu-system-x86_64");

    Series delos{"delos-vmm"}, guest_internal{"delos-vmm (guest TSC: PVH entry -> ready)"};
    Series vmm_timer{"delos-vmm (VMM boot timer)"};
    Series microvm{"qemu -M microvm"}, pc{"qemu -M pc"};
    double overhead_kib = -1, exits = -1;

    for (int run = 0; run < options.runs; ++run) {
        if (show_progress)
            std::fprintf(stderr, "\rboot %d/%d", run + 1, options.runs);
        auto result = run_child({vmm, "--stats", "--memory", options.memory, "--cmdline", "exit", kernel},
                                {std::chrono::seconds(60), "delos: ready"});
        if (result.exit_code != 0 || result.watch_ms < 0) {
            ++delos.failures;
            continue;
        }
        delos.samples.push_back(result.watch_ms);
        guest_internal.samples.push_back(parse_after(result.out, "boot ") / 1000.0);
        vmm_timer.samples.push_back(parse_after(result.err, "boot-timer: guest ready "));
        overhead_kib = std::max(overhead_kib, parse_after(result.err, "overhead_kib="));
        exits = parse_after(result.err, "exits ");

        if (have_qemu) {
            for (Series* series : {&microvm, &pc}) {
                std::string machine = series == &microvm ? "microvm" : "pc";
                auto qemu = run_child({"qemu-system-x86_64", "-accel", "kvm", "-M", machine, "-m", options.memory,
                                       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel,
                                       "-append", "exit", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial",
                                       "stdio", "-monitor", "none"},
                                      {std::chrono::seconds(120), "delos: ready"});
                if (qemu.watch_ms < 0)
                    ++series->failures;
                else
                    series->samples.push_back(qemu.watch_ms);
            }
        }
    }
    if (show_progress)
        std::fprintf(stderr, "\r%*s\r", 20, "");

    double base = delos.median();
    auto ratio = [&](const Series& s) { return base > 0 && s.median() > 0 ? s.median() / base : -1; };
    if (options.json) {
        std::printf("{\"runs\": %d, \"boot_ms_median\": %s, \"boot_ms_p10\": %s, \"boot_ms_p90\": %s, "
                    "\"guest_boot_ms_median\": %s, \"vmm_boot_timer_ms_median\": %s, "
                    "\"qemu_microvm_ms_median\": %s, \"qemu_pc_ms_median\": %s, "
                    "\"qemu_microvm_ratio\": %s, \"qemu_pc_ratio\": %s, \"vmm_overhead_mib\": %s, \"vm_exits\": %s, "
                    "\"failures\": %d}\n",
                    options.runs, json_number(base).c_str(), json_number(delos.percentile(0.1)).c_str(),
                    json_number(delos.percentile(0.9)).c_str(), json_number(guest_internal.median()).c_str(),
                    json_number(vmm_timer.median()).c_str(), json_number(microvm.median()).c_str(),
                    json_number(pc.median()).c_str(), json_number(ratio(microvm)).c_str(), json_number(ratio(pc)).c_str(),
                    json_number(overhead_kib < 0 ? -1 : overhead_kib / 1024.0).c_str(), json_number(exits).c_str(),
                    delos.failures + microvm.failures + pc.failures);
        return delos.samples.empty() ? 1 : 0;
    }
    std::printf("Boot: process start -> \"delos: ready\" on the console, %d runs each\n\n", options.runs);
    std::printf("%-44s %10s %10s %10s %8s %6s\n", "", "median ms", "p10 ms", "p90 ms", "x delos", "fails");
    for (const Series* s : {&delos, &vmm_timer, &guest_internal, &microvm, &pc}) {
        if (s->samples.empty() && s->failures == 0)
            continue;
        std::printf("%-44s %10.2f %10.2f %10.2f %8.2f %6d\n", s->name.c_str(), s->median(), s->percentile(0.1),
                    s->percentile(0.9), ratio(*s), s->failures);
    }
    if (!have_qemu)
        std::printf("(QEMU not measured: %s)\n", options.qemu ? "qemu-system-x86_64 not found" : "--no-qemu");
    std::printf("\nVM exits per boot (delos-vmm): %.0f\n", exits);
    std::printf("VMM memory overhead (RSS beyond touched guest RAM): %.2f MiB\n", overhead_kib / 1024.0);
    return delos.samples.empty() ? 1 : 0;
}
