// callee_saved_asm.h: the assembly that saves the six callee-saved registers with their unwind
// info, shared by routines written in assembly (the context switch, the cell call gate).
#pragma once

// Pushes rbp, rbx, r12-r15 in that order; after it, the CFA is 48 bytes further up and each
// register's CFI row points at its slot. For a string literal spliced into an asm() block.
#define DELOS_ASM_PUSH_CALLEE_SAVED_WITH_CFI \
    "    pushq %rbp\n"                       \
    "    .cfi_adjust_cfa_offset 8\n"         \
    "    .cfi_rel_offset %rbp, 0\n"          \
    "    pushq %rbx\n"                       \
    "    .cfi_adjust_cfa_offset 8\n"         \
    "    .cfi_rel_offset %rbx, 0\n"          \
    "    pushq %r12\n"                       \
    "    .cfi_adjust_cfa_offset 8\n"         \
    "    .cfi_rel_offset %r12, 0\n"          \
    "    pushq %r13\n"                       \
    "    .cfi_adjust_cfa_offset 8\n"         \
    "    .cfi_rel_offset %r13, 0\n"          \
    "    pushq %r14\n"                       \
    "    .cfi_adjust_cfa_offset 8\n"         \
    "    .cfi_rel_offset %r14, 0\n"          \
    "    pushq %r15\n"                       \
    "    .cfi_adjust_cfa_offset 8\n"         \
    "    .cfi_rel_offset %r15, 0\n"
