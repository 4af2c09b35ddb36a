// task_benchmark.h: the guest half of delos-bench-tasks (`--cmdline bench-tasks`): times task
// spawn+join, a context switch, map+unmap of a page and a cross-cell call, printing one
// `bench-tasks: <name>_ns=<value> iterations=<n>` line per figure for the host to parse.
#pragma once

namespace delos::diagnostics {

void run_task_benchmarks();

} // namespace delos::diagnostics
