// link_benchmark.cpp: delos-bench-link prints the time the in-guest linker takes to load and link
// the boot set (median of 3 in one guest), per KiB of relocatable objects, and the boot time with
// the boot set loaded beside the boot time without it, measured in the same run.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "child_process.h"

using namespace delos::test;

namespace {

double field(const std::string& text, const std::string& key)
{
    auto at = text.find(key + "=");
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + key.size() + 1);
}

double median(std::vector<double> values)
{
    if (values.empty())
        return -1;
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

std::string json_number(double value) { return value < 0 ? "null" : std::to_string(value); }

} // namespace

int main(int argc, char** argv)
{
    bool json = false;
    int runs = 3;
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--json")
            json = true;
        else if (argument == "--runs" && i + 1 < argc)
            runs = std::max(1, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: delos-bench-link [--runs N] [--json]\n");
            return 2;
        }
    }
    if (!kvm_available()) {
        std::fprintf(stderr, "delos-bench-link: /dev/kvm is not available\n");
        return 1;
    }
    std::string build = DELOS_BUILD_DIR;
    std::string vmm = build + "/bin/delos-vmm", kernel = build + "/guest/delos.elf", archive = build + "/cells/cells.a";

    auto linked = run_child({vmm, "--module", archive, "--cmdline", "bench-link", kernel}, {std::chrono::seconds(600), ""});
    double link_ns = field(linked.out, "link_ns_median");
    double object_bytes = field(linked.out, "object_bytes");
    double cells = field(linked.out, "cells");
    if (linked.exit_code != 0 || link_ns < 0) {
        std::fprintf(stderr, "delos-bench-link: the guest benchmark failed (exit %d):\n%s%s", linked.exit_code,
                     linked.out.c_str(), linked.err.c_str());
        return 1;
    }

    std::vector<double> with_cells, without_cells;
    for (int run = 0; run < runs; ++run) {
        auto with = run_child({vmm, "--module", archive, "--cmdline", "exit", kernel}, {std::chrono::seconds(300), "delos: ready"});
        auto without = run_child({vmm, "--cmdline", "exit", kernel}, {std::chrono::seconds(300), "delos: ready"});
        if (with.watch_ms >= 0)
            with_cells.push_back(with.watch_ms);
        if (without.watch_ms >= 0)
            without_cells.push_back(without.watch_ms);
    }
    double link_ms = link_ns / 1e6;
    double us_per_kib = object_bytes > 0 ? (link_ns / 1000.0) / (object_bytes / 1024.0) : -1;
    double boot_with = median(with_cells), boot_without = median(without_cells);

    if (json) {
        std::printf("{\"cells\": %s, \"object_bytes\": %s, \"boot_set_link_ms\": %s, \"link_us_per_kib\": %s, "
                    "\"boot_with_cells_ms_median\": %s, \"boot_without_cells_ms_median\": %s, \"boot_ratio\": %s}\n",
                    json_number(cells).c_str(), json_number(object_bytes).c_str(), json_number(link_ms).c_str(),
                    json_number(us_per_kib).c_str(), json_number(boot_with).c_str(), json_number(boot_without).c_str(),
                    json_number(boot_with > 0 && boot_without > 0 ? boot_with / boot_without : -1).c_str());
        return 0;
    }
    std::printf("In-guest linking of the boot set (%.0f cells, %.1f KiB of relocatable objects)\n\n", cells, object_bytes / 1024);
    std::printf("%-46s %12.2f ms\n", "load + link + init, median of 3", link_ms);
    std::printf("%-46s %12.1f us/KiB\n", "per KiB of relocatable objects", us_per_kib);
    std::printf("%-46s %12.2f ms\n", "boot to ready, boot set loaded (median)", boot_with);
    std::printf("%-46s %12.2f ms\n", "boot to ready, no cells (baseline, median)", boot_without);
    std::printf("%-46s %12.2f x\n", "ratio", boot_with > 0 && boot_without > 0 ? boot_with / boot_without : -1);
    return 0;
}
