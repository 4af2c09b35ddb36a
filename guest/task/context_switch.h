// context_switch.h: switching the CPU from one task's stack to another's. Only callee-saved
// registers are saved (the compiler has spilled the rest around the call); the guest has no
// FPU/SSE state (-mgeneral-regs-only), and RFLAGS.IF is handed over by the scheduler's lock.
#pragma once

#include <cstdint>

namespace delos::task {

class Task;

// Saved on the outgoing stack, lowest address first; *save_stack_pointer points at it.
struct SwitchFrame {
    std::uint64_t r15, r14, r13, r12, rbx, rbp;
    std::uint64_t return_address;
};

// Builds a first SwitchFrame at the top of a fresh stack so that switching to it enters
// task_entry(task) through the entry trampoline (whose CFI ends unwinding there).
std::uint64_t prepare_initial_stack(std::uint64_t stack_top, Task* task);

} // namespace delos::task

extern "C" {
// Saves the callee-saved registers on the current stack, stores the stack pointer in
// *save_stack_pointer, loads next_stack_pointer and restores that task's registers.
void delos_switch_context(std::uint64_t* save_stack_pointer, std::uint64_t next_stack_pointer);
// Where a fresh task starts: moves the Task* from r12 to the first argument, calls task_entry.
void delos_task_entry_trampoline();
// The C++ side of a task's first instructions (scheduler.cpp); never returns.
[[noreturn]] void delos_task_entry(delos::task::Task* task);
}
