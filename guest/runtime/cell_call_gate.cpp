// cell_call_gate.cpp: the cell call gate (cell_call_gate.h), in assembly with unwind info.
#include "runtime/cell_call_gate.h"

#include "arch/x86_64/callee_saved_asm.h"

// Entry: rdi = function, rsi/rdx/rcx/r8 = its four argument words (r11 keeps the fourth through
// the save and the scrub); the callee gets r8-r11 zeroed (never the save-area slot's address).
// Six pushes and 8 bytes of padding keep rsp 16-byte aligned at the call; the padding, right above
// the return address the call pushes, holds delos_cell_call_gate_overrun: a callee that returns one
// word too far (a corrupted `pop`) traps there at once, instead of running on into whatever the
// word held (it held the function: the callee ran itself again with stale registers and wrote
// through them into its caller's data). The scrub runs from max(limit, rsp - 2048) up to rsp, the limit
// being the split-stack limit at %fs:0x70 (0: unknown, nothing is scrubbed). The CFA stays
// rsp-relative throughout, so the callee's poisoned rbp never misleads the unwinder here.
// The save-area slot (CellCallSaveArea) is written before the scrub; after the call, the slot the
// cursor points below must lie inside the area (a callee that moved the cursor traps at 3:), and
// rsp, the return address and the six registers come from it, whatever the callee left on the
// stack; the direction flag is cleared (the ABI's state at a return, which a corrupted callee may
// have left set). The stack copies stay for the unwinder (a fault inside the callee unwinds by CFI).
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
    leaq delos_cell_call_gate_overrun(%rip), %rax
    movq %rax, (%rsp)
    movq %r8, %r11
    movq %fs:0x78, %r8
    leaq 128(%r8), %r9
    testq %r8, %r8
    jz 3f
    cmpq %fs:0x80, %r9
    ja 3f
    movq %rbp, 0(%r8)
    movq %rbx, 8(%r8)
    movq %r12, 16(%r8)
    movq %r13, 24(%r8)
    movq %r14, 32(%r8)
    movq %r15, 40(%r8)
    movq %rsp, 48(%r8)
    movq 56(%rsp), %r10
    movq %r10, 56(%r8)
    movq %rdi, 64(%r8)
    movq %r9, %fs:0x78
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
    movq %r11, %rcx
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r11d, %r11d
    call *%rax
    cld
    movq %fs:0x80, %rcx
    subq %fs:0x78, %rcx
    subq $128, %rcx
    cmpq $896, %rcx
    ja 3f
    testq $127, %rcx
    jnz 3f
    movq %fs:0x78, %rcx
    subq $128, %rcx
    movq %rcx, %fs:0x78
    movq 48(%rcx), %rsp
    movq 56(%rcx), %r8
    movq %r8, 56(%rsp)
    movq 0(%rcx), %rbp
    movq 8(%rcx), %rbx
    movq 16(%rcx), %r12
    movq 24(%rcx), %r13
    movq 32(%rcx), %r14
    movq 40(%rcx), %r15
    .cfi_remember_state
    addq $56, %rsp
    .cfi_adjust_cfa_offset -56
    .cfi_restore %rbp
    .cfi_restore %rbx
    .cfi_restore %r12
    .cfi_restore %r13
    .cfi_restore %r14
    .cfi_restore %r15
    ret
    .cfi_restore_state
3:
    ud2
    .cfi_endproc
    .global delos_cell_call_gate_end
delos_cell_call_gate_end:
    .size delos_cell_call_gate, . - delos_cell_call_gate

// Outside the gate's function and with no unwind info: where the stack pointer is when a callee
// returns here is not the gate's frame, so containment resynchronises at the gate's own return
// address above, and blames the callee of the task's open gate call (its save-area slot).
    .section .text.delos_cell_call_gate_overrun, "ax"
    .global delos_cell_call_gate_overrun
    .type delos_cell_call_gate_overrun, @function
delos_cell_call_gate_overrun:
    ud2
    .size delos_cell_call_gate_overrun, . - delos_cell_call_gate_overrun
    .text
)");

static_assert(delos::runtime::kCellCallScrubBytes == 2048, "the gate's scrub (leaq -2048) follows the constant");
static_assert(delos::runtime::kCellCallPoison == 0x0dead0000dead000ull, "the gate's movabsq follows the constant");

static_assert(delos::runtime::kCellCallSlotWords * 8 == 128, "the gate's slot stride (128) follows the constant");
static_assert(delos::runtime::kCellCallSlotFunction * 8 == 64, "the gate keeps the function at +64 of its slot");
static_assert((delos::runtime::kCellCallNesting - 1) * 128 == 896, "the gate's cursor check (896) follows the constant");
static_assert(delos::runtime::kCellCallCursorOffset == 0x78 && delos::runtime::kCellCallEndOffset == 0x80,
              "the gate's %fs offsets follow the constants");
