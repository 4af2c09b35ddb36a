// swap_benchmark.cpp: swap timing with the TSC (the namespace's swap report), one parseable line.
#include "diagnostics/swap_benchmark.h"

#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "lib/core/vector.h"
#include "linker/kernel/cell_manager.h"

namespace delos::diagnostics {

using loader::cell_manager;
using loader::CellSummary;

namespace {

void sort(Vector<std::uint64_t>& samples)
{
    for (std::size_t i = 1; i < samples.size(); ++i)
        for (std::size_t j = i; j > 0 && samples[j - 1] > samples[j]; --j) {
            std::uint64_t t = samples[j];
            samples[j] = samples[j - 1];
            samples[j - 1] = t;
        }
}

std::uint64_t median(Vector<std::uint64_t> samples)
{
    if (samples.empty())
        return 0;
    sort(samples);
    return samples[samples.size() / 2];
}

std::uint64_t p99(Vector<std::uint64_t> samples)
{
    if (samples.empty())
        return 0;
    sort(samples);
    std::size_t at = samples.size() * 99 / 100;
    return samples[at < samples.size() ? at : samples.size() - 1];
}

constexpr const char* kUsers[] = {"wide_user_a", "wide_user_b", "wide_user_c"};

} // namespace

void run_swap_benchmark(unsigned swaps)
{
    const link::CellLibrary* library = cell_manager().library();
    const link::LibraryCell* v1 = library ? library->find_cell("wide") : nullptr;
    const link::LibraryCell* v2 = library ? library->find_version("wide.v2") : nullptr;
    if (!v1 || !v2) {
        kprint("bench-swap: error: boot with build/cells/swap-test.a as the module (it holds wide and wide.v2)\n");
        return;
    }
    for (const char* user : kUsers) {
        if (!cell_manager().cell_namespace().find_cell(user)) {
            if (auto loaded = cell_manager().load(user); loaded.is_error()) {
                kprint("bench-swap: error: loading {}: {} ({})\n", user, loaded.error().message, cell_manager().last_failure());
                return;
            }
        }
    }

    // Baseline: loading the same cell from scratch (its dependents unloaded and reloaded around it).
    Vector<std::uint64_t> load_samples;
    for (unsigned run = 0; run < 11; ++run) {
        for (const char* user : kUsers)
            (void)cell_manager().unload(user);
        (void)cell_manager().unload("wide");
        std::uint64_t start = tsc::nanoseconds_since_boot();
        auto loaded = cell_manager().load("wide");
        std::uint64_t elapsed = tsc::nanoseconds_since_boot() - start;
        if (loaded.is_error()) {
            kprint("bench-swap: error: loading wide: {} ({})\n", loaded.error().message, cell_manager().last_failure());
            return;
        }
        load_samples.append(elapsed);
        for (const char* user : kUsers)
            (void)cell_manager().load(user);
    }

    Vector<std::uint64_t> total, stages[link::kSwapStageCount];
    std::uint32_t relocations = 0;
    for (unsigned run = 0; run < swaps; ++run) {
        const link::LibraryCell* next = run % 2 == 0 ? v2 : v1;
        auto swapped = cell_manager().swap(Vector<link::SwapPair>{link::SwapPair{"wide", next->object, true}});
        if (swapped.is_error()) {
            kprint("bench-swap: error: swap {}: {} ({})\n", run, swapped.error().message, cell_manager().last_failure());
            return;
        }
        total.append(swapped.value().total_ns);
        for (int stage = 0; stage < link::kSwapStageCount; ++stage)
            stages[stage].append(swapped.value().stage_ns[stage]);
        relocations = swapped.value().relocations_repointed;
    }
    const link::LoadedCell* wide = cell_manager().cell_namespace().find_cell("wide");
    std::uint64_t cell_bytes = 0;
    for (const link::Region& region : wide->regions())
        cell_bytes += region.size;
    kprint("bench-swap: swaps={} cell_bytes={} object_bytes={} dependents=3 relocations={} swap_ns_median={} swap_ns_p99={} "
           "load_ns_median={} link_ns_median={} verify_ns_median={} transfer_ns_median={} repoint_ns_median={} "
           "cleanup_ns_median={} fresh_load_ns_median={}\n",
           swaps, cell_bytes, v2->object.size(), relocations, median(total), p99(total), median(stages[0]), median(stages[1]),
           median(stages[2]), median(stages[3]), median(stages[4]), median(stages[5]), median(load_samples));
}

} // namespace delos::diagnostics
