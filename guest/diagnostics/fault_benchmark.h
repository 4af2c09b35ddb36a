// fault_benchmark.h: `bench-faults` (booted with build/cells/recovery-test.a): how long fault
// recovery takes, from the faulting instruction to the restarted task running again and to a
// reloaded cell serving again; one parseable line per sample and a summary line
// (delos-bench-faults reads them).
#pragma once

namespace delos::diagnostics {

void run_fault_benchmark(unsigned restarts, unsigned reloads);

} // namespace delos::diagnostics
