// stack_limit.cpp: the per-CPU block FS points at (the split-stack limit at +0x70) and the
// __morestack every function prologue calls when its frame would cross the limit.
#include "arch/x86_64/stack_limit.h"

#include "arch/x86_64/cpu.h"

// 256 bytes, the limit at +0x70 and 0 at boot (no limit); the cell call gate's cursor and end at
// +0x78 and +0x80 (runtime/cell_call_gate.h); the running task's stack top at +0x88. One CPU: one block.
asm(R"(
    .section .data.delos_stack_limit_block, "aw"
    .balign 64
    .global delos_stack_limit_block
delos_stack_limit_block:
    .fill 256, 1, 0

// Called by a prologue whose frame would cross the limit, with the caller's registers intact:
// [rsp] is the return address into the prologue, [rsp+8] the function's own return address.
// Nothing is grown: the limit is lifted (the containment path and the unwinder then run in the
// reserve below it, unchecked; the guard page still catches anything beyond) and it traps.
    .section .text.__morestack, "ax"
    .global __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    movq $0, %fs:0x70
    .global delos_stack_overflow_trap
delos_stack_overflow_trap:
    ud2
    .cfi_endproc
    .size __morestack, . - __morestack
    .text
)");

namespace delos::arch {

void install_stack_limit_block()
{
    cpu::write_msr(0xc0000100, reinterpret_cast<std::uint64_t>(delos_stack_limit_block));  // IA32_FS_BASE
}

} // namespace delos::arch
