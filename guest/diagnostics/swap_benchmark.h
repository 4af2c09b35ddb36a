// swap_benchmark.h: the guest half of delos-bench-swap: times swapping the 64 KiB wide cell
// (three dependents) between its two versions in the running guest.
#pragma once

namespace delos::diagnostics {

// Swaps wide <-> wide.v2 (from the module build/cells/swap-test.a) `swaps` times and prints one
// line "bench-swap: ..." with the median and p99 of the whole swap and the median of each
// stage, beside the median time to load the same cell from scratch (the baseline).
void run_swap_benchmark(unsigned swaps);

} // namespace delos::diagnostics
