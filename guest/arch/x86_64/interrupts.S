// interrupts.S: one entry stub per vector: push a uniform InterruptFrame, call the C++ dispatcher.
    .section .text.interrupt_entries, "ax"
    .code64

// Vectors 8, 10-14, 17, 21, 29 and 30 push an error code; the others get a 0 so every
// frame has the same shape.
    .macro ENTRY vector
    .align 16
interrupt_entry_\vector:
    .if !((\vector == 8) || ((\vector >= 10) && (\vector <= 14)) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30))
    pushq $0
    .endif
    pushq $\vector
    jmp interrupt_common
    .endm

    .altmacro
    .set vector, 0
    .rept 256
    ENTRY %vector
    .set vector, vector + 1
    .endr

interrupt_common:
    cld
    // Interrupted outside ring 0 in the ordinary path: a task's corrupted code left it through an
    // iret (QEMU TCG even follows EFLAGS.VM into virtual-8086 mode in long mode, which loads FS
    // with a real-mode base). The FS base is put back before anything reads %fs (the stack limit
    // below); fault containment ends the task (arch::frame_left_ring_zero).
    cmpb $0, delos_native_mode(%rip)
    jne 8f
    testb $3, 24(%rsp)         // the interrupted CS (after the vector and error code)
    jnz 7f
    testl $0x20000, 32(%rsp)   // EFLAGS.VM: virtual-8086 mode, whose CS is a real-mode segment
    jz 8f
7:
    pushq %rax
    pushq %rcx
    pushq %rdx
    movl $0xc0000100, %ecx     // IA32_FS_BASE
    leaq delos_stack_limit_block(%rip), %rax
    movq %rax, %rdx
    shrq $32, %rdx
    wrmsr
    popq %rdx
    popq %rcx
    popq %rax
8:
    movb $0, delos_virtual_interrupt_flag(%rip)  // every gate is an interrupt gate: IF is off
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    // Outside ring 0 (see above), the exception came in on the TSS's rsp0 stack, which every such
    // event shares: the frame moves onto the running task's own stack, near its top (%fs:0x88;
    // the task is ended there, its frames are dead), so a handler that switches tasks leaves
    // nothing on the shared stack. With no task stack (0) it stays, and containment refuses.
    cmpb $0, delos_native_mode(%rip)
    jne 9f
    testb $3, 0x90(%rsp)       // the interrupted CS, above the 15 registers, vector and error code
    jnz 6f
    testl $0x20000, 0x98(%rsp) // EFLAGS.VM
    jz 9f
6:
    movq %fs:0x88, %rax
    testq %rax, %rax
    jz 9f
    subq $(256 + 176), %rax    // 176: the frame's 22 words
    andq $-16, %rax
    movq %rsp, %rsi
    movq %rax, %rdi
    movl $22, %ecx
    rep movsq
    movq %rax, %rsp
9:
    movq %rsp, %rdi
    // A frame record linking to the interrupted code, so backtraces walk through interrupts.
    pushq 0x88(%rsp)          // interrupted rip: frame->rip, 17 slots above the frame start
    pushq 0x48(%rsp)          // interrupted rbp: frame->rbp, 8 slots above the frame, +1 for the push
    movq %rsp, %rbp
    // Handlers run with no stack limit (arch/x86_64/stack_limit.h): a task interrupted just
    // above its limit must not have its interrupt handlers mistaken for its own overflow. The
    // interrupted code's limit is kept here (with a pad for alignment) and put back on return.
    pushq %fs:0x70
    pushq $0
    movq $0, %fs:0x70
    call interrupt_dispatch
    addq $8, %rsp
    popq %fs:0x70
    addq $16, %rsp
    .global interrupt_return
interrupt_return:
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp            // vector and error code
    cmpb $0, delos_native_mode(%rip)
    jne native_return
    iretq

// kvm_pvm native mode: iretq runs in hardware against the host's GDT, so return through its
// ring-3 selectors, and it does not restore the virtual IF: sti (whose shadow covers the
// iretq) when the frame had IF=1. The frame: rip, cs, rflags, rsp, ss. A maskable interrupt
// deferred under the soft mask had IF cleared in its frame by interrupt_dispatch, so it returns
// with the virtual IF off (no sti, the cheap way back).
native_return:
    movq $0x33, 8(%rsp)
    movq $0x2b, 32(%rsp)
    testl $0x200, 16(%rsp)
    jz 1f
    movb $1, delos_virtual_interrupt_flag(%rip)
    sti
1:  iretq

// sti; hlt (cpu.h). An interrupt taken with rip at the hlt came between the two: it is the
// wake-up the hlt waits for, so interrupt_dispatch resumes after the hlt instead of in it.
//
// Native mode (soft interrupt mask, cpu.h): clear the mask; anything pending is run by
// delos_soft_unmask_slow (which also turns the virtual IF on) and counts as the wake-up, so no
// hlt then. Otherwise hlt with the virtual IF already on: an interrupt taken anywhere from
// delos_soft_halt_window_start up to and including the hlt resumes at delos_soft_halt_window_end
// (interrupt_dispatch), so it cannot be slept through. An interrupt before the window (at the
// movb) still sees the mask set and is deferred, which the first check finds.
    .section .text.delos_enable_interrupts_and_halt, "ax"
    .global delos_enable_interrupts_and_halt
    .global delos_halt_instruction
    .global delos_soft_halt_window_start
    .global delos_soft_halt_window_end
    .type delos_enable_interrupts_and_halt, @function
delos_enable_interrupts_and_halt:
    cmpb $0, delos_native_mode(%rip)
    jne 2f
    movb $1, delos_virtual_interrupt_flag(%rip)
    sti
delos_halt_instruction:
    hlt
    ret
2:  movb $0, delos_soft_interrupt_mask(%rip)
delos_soft_halt_window_start:
    cmpb $0, delos_pending_interrupt_summary(%rip)
    jne 3f
    cmpb $0, delos_virtual_interrupt_flag(%rip)
    je 3f
    hlt
delos_soft_halt_window_end:
    ret
3:  subq $8, %rsp                // keep the call 16-byte aligned
    call delos_soft_unmask_slow  // runs what is pending, sets the virtual IF; al = ran something
    addq $8, %rsp
    testb %al, %al
    jz delos_soft_halt_window_start  // nothing ran (the IF was merely off): now halt
    ret
    .size delos_enable_interrupts_and_halt, . - delos_enable_interrupts_and_halt

    .section .rodata.interrupt_entry_table, "a"
    .align 8
    .global interrupt_entry_table
interrupt_entry_table:
    .macro ENTRY_ADDRESS vector
    .quad interrupt_entry_\vector
    .endm
    .set vector, 0
    .rept 256
    ENTRY_ADDRESS %vector
    .set vector, vector + 1
    .endr
