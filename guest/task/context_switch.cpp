// context_switch.cpp: the stack switch and the entry trampoline, in assembly with unwind info.
#include "task/context_switch.h"

#include "arch/x86_64/callee_saved_asm.h"

// The switch pushes six callee-saved registers and swaps stacks. Both stacks have the same
// layout at that point, so one set of CFI describes the routine wherever it stops: a future
// unwinder walking a blocked task's stack finds its caller through it.
asm(R"(
    .section .text.delos_switch_context, "ax"
    .global delos_switch_context
    .type delos_switch_context, @function
delos_switch_context:
    .cfi_startproc
)"
    DELOS_ASM_PUSH_CALLEE_SAVED_WITH_CFI
    R"(    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    .cfi_adjust_cfa_offset -8
    popq %r14
    .cfi_adjust_cfa_offset -8
    popq %r13
    .cfi_adjust_cfa_offset -8
    popq %r12
    .cfi_adjust_cfa_offset -8
    popq %rbx
    .cfi_adjust_cfa_offset -8
    popq %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size delos_switch_context, . - delos_switch_context

    .section .text.delos_task_entry_trampoline, "ax"
    .global delos_task_entry_trampoline
    .type delos_task_entry_trampoline, @function
delos_task_entry_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r12, %rdi
    call delos_task_entry
    ud2
    .cfi_endproc
    .size delos_task_entry_trampoline, . - delos_task_entry_trampoline
)");

namespace delos::task {

std::uint64_t prepare_initial_stack(std::uint64_t stack_top, Task* task)
{
    // After the six pops and the ret, rsp must be 16-byte aligned at the trampoline's call.
    // Two zero words sit above the frame: a null return address and padding, ending backtraces.
    auto* top = reinterpret_cast<std::uint64_t*>(stack_top);
    top[-1] = 0;
    top[-2] = 0;
    auto* frame = reinterpret_cast<SwitchFrame*>(stack_top - 16 - sizeof(SwitchFrame));
    *frame = SwitchFrame{0, 0, 0, reinterpret_cast<std::uint64_t>(task), 0, 0,
                         reinterpret_cast<std::uint64_t>(&delos_task_entry_trampoline)};
    return reinterpret_cast<std::uint64_t>(frame);
}

} // namespace delos::task
