// link_benchmark.h: the guest half of delos-bench-link: times linking the boot set in the guest.
#pragma once

namespace delos::diagnostics {

// Unloads the boot set, then links it again `runs` times (unloading in between), and prints one
// line "bench-link: ..." with the median link time and the size of the relocatable objects.
void run_link_benchmark(unsigned runs);

} // namespace delos::diagnostics
