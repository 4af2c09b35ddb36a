// cell_call_gate.cpp: the cell call gate (cell_call_gate.h), in assembly with unwind info.
#include "runtime/cell_call_gate.h"

#include "arch/x86_64/callee_saved_asm.h"

// Entry: rdi = function, rsi/rdx/rcx = its arguments. Six pushes and 8 bytes of padding keep rsp
// 16-byte aligned at the call; the padding holds the function, right above the return address the
// call pushes (fault containment names the callee's cell from there: runtime::returns_into_cell_call_gate). The scrub runs from max(limit, rsp - 2048) up to rsp, the limit
// being the split-stack limit at %fs:0x70 (0: unknown, nothing is scrubbed). The CFA stays
// rsp-relative throughout, so the callee's poisoned rbp never misleads the unwinder here.
asm(R"(
    .section .text.delos_cell_call_gate, "ax"
    .global delos_cell_call_gate
    .type delos_cell_call_gate, @function
delos_cell_call_gate:
    .cfi_startproc
)"
    DELOS_ASM_PUSH_CALLEE_SAVED_WITH_CFI
    R"(    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    movq %rdi, (%rsp)
    movq %rdi, %r12
    movq %rsi, %r13
    movq %rdx, %r14
    movq %rcx, %r15
    movq %fs:0x70, %rax
    testq %rax, %rax
    jz 2f
    leaq -2048(%rsp), %rdi
    cmpq %rax, %rdi
    cmovbq %rax, %rdi
    movq %rsp, %rcx
    subq %rdi, %rcx
    jbe 2f
    shrq $3, %rcx
    xorl %eax, %eax
    cld
    rep stosq
2:
    movq %r12, %rax
    movq %r13, %rdi
    movq %r14, %rsi
    movq %r15, %rdx
    movabsq $0x0dead0000dead000, %rbx
    movq %rbx, %rbp
    movq %rbx, %r12
    movq %rbx, %r13
    movq %rbx, %r14
    movq %rbx, %r15
    xorl %ecx, %ecx
    call *%rax
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .global delos_cell_call_gate_end
delos_cell_call_gate_end:
    .size delos_cell_call_gate, . - delos_cell_call_gate
    .text
)");

static_assert(delos::runtime::kCellCallScrubBytes == 2048, "the gate's scrub (leaq -2048) follows the constant");
static_assert(delos::runtime::kCellCallPoison == 0x0dead0000dead000ull, "the gate's movabsq follows the constant");
