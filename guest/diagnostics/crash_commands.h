// crash_commands.h: deliberate crashes for the crash-* commands (guest/kernel/command_table.cpp);
// none returns: each ends in the panic report (exit 11) or, for the triple fault, the VMM's report.
#pragma once

namespace delos::diagnostics {

[[noreturn]] void crash_with_page_fault();
[[noreturn]] void crash_with_stack_overflow();
[[noreturn]] void crash_with_triple_fault();
[[noreturn]] void crash_task_with_spin_lock_held();
[[noreturn]] void crash_task_in_destructor();
[[noreturn]] void crash_task_in_interrupt();
[[noreturn]] void crash_task_overflow_with_spin_lock_held();
[[noreturn]] void crash_switch_inside_run_alone();

} // namespace delos::diagnostics
