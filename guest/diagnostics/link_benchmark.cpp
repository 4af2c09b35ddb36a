// link_benchmark.cpp: boot-set link timing with the TSC, reported as one parseable line.
#include "diagnostics/link_benchmark.h"

#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "lib/core/vector.h"
#include "linker/kernel/cell_manager.h"

namespace delos::diagnostics {

using loader::cell_manager;
using loader::CellSummary;

namespace {

ErrorOr<void> unload_everything()
{
    // Dependents first: repeatedly unload cells nobody uses until none are left.
    for (;;) {
        Vector<CellSummary> cells = cell_manager().cells();
        if (cells.empty())
            return {};
        bool progressed = false;
        for (std::size_t i = cells.size(); i-- > 0;) {
            if (cells[i].dependents.empty()) {
                TRY(cell_manager().unload(cells[i].name.view()));
                progressed = true;
                break;
            }
        }
        if (!progressed)
            return Error::make(ErrorCode::Busy, "cells use each other in a cycle");
    }
}

} // namespace

void run_link_benchmark(unsigned runs)
{
    const link::CellLibrary* library = cell_manager().library();
    if (!library) {
        kprint("bench-link: error: no boot archive (boot with --module build/cells/cells.a)\n");
        return;
    }
    std::uint64_t object_bytes = 0;
    for (const link::LibraryCell& cell : library->cells())
        object_bytes += cell.object.size();

    Vector<std::uint64_t> samples;
    std::size_t cells = 0;
    for (unsigned run = 0; run < runs; ++run) {
        if (auto unloaded = unload_everything(); unloaded.is_error()) {
            kprint("bench-link: error: {}: {}\n", unloaded.error().message, unloaded.error().explanation());
            return;
        }
        std::uint64_t start = tsc::nanoseconds_since_boot();
        auto loaded = cell_manager().load_boot_set();
        std::uint64_t elapsed = tsc::nanoseconds_since_boot() - start;
        if (loaded.is_error()) {
            kprint("bench-link: error: {}: {}\n", loaded.error().message, loaded.error().explanation());
            return;
        }
        cells = loaded.value();
        samples.append(elapsed);
    }
    // Insertion sort: a handful of samples.
    for (std::size_t i = 1; i < samples.size(); ++i)
        for (std::size_t j = i; j > 0 && samples[j - 1] > samples[j]; --j) {
            std::uint64_t t = samples[j];
            samples[j] = samples[j - 1];
            samples[j - 1] = t;
        }
    std::uint64_t median_ns = samples[samples.size() / 2];
    std::uint64_t ns_per_kib = object_bytes ? median_ns * 1024 / object_bytes : 0;
    kprint("bench-link: runs={} cells={} object_bytes={} link_ns_median={} link_ns_min={} link_ns_per_kib={}\n", runs, cells,
           object_bytes, median_ns, samples[0], ns_per_kib);
}

} // namespace delos::diagnostics
