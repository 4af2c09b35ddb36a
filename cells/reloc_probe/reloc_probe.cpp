// reloc_probe.cpp: a test-only cell (NOT_BOOT) holding one of each relocation type the linker
// supports, aimed at kv's exported delos::kv::size() and at the kernel's serial writer, so host
// tests can check the patched bytes and call through them. Written in assembly so that every
// instruction and data word, and the relocation it carries, is exactly as stated.
#include "kv/kv.h"
#include "linker/cell_info.h"

asm(R"(
    .section .text.probe_size_via_got_call,"ax",@progbits
    .globl probe_size_via_got_call
    .type probe_size_via_got_call,@function
probe_size_via_got_call:                        # R_X86_64_GOTPCRELX: call *slot(%rip)
    pushq %rbp
    movq %rsp, %rbp
    call *_ZN5delos2kv4sizeEv@GOTPCREL(%rip)
    popq %rbp
    ret

    .section .text.probe_size_via_got_load,"ax",@progbits
    .globl probe_size_via_got_load
    .type probe_size_via_got_load,@function
probe_size_via_got_load:                        # R_X86_64_REX_GOTPCRELX: movq slot(%rip), %rax
    movq _ZN5delos2kv4sizeEv@GOTPCREL(%rip), %rax
    jmp *%rax

    .section .text.probe_size_via_plain_gotpcrel,"ax",@progbits
    .globl probe_size_via_plain_gotpcrel
    .type probe_size_via_plain_gotpcrel,@function
probe_size_via_plain_gotpcrel:                  # R_X86_64_GOTPCREL (not relaxable): movq slot(%rip), %rax
    .byte 0x48, 0x8b, 0x05
    .reloc ., R_X86_64_GOTPCREL, _ZN5delos2kv4sizeEv-4
    .long 0
    jmp *%rax

    .section .text.probe_size_via_plt32,"ax",@progbits
    .globl probe_size_via_plt32
    .type probe_size_via_plt32,@function
probe_size_via_plt32:                           # R_X86_64_PLT32: jmp kv::size
    jmp _ZN5delos2kv4sizeEv@PLT

    .section .text.probe_address_32s,"ax",@progbits
    .globl probe_address_32s
    .type probe_address_32s,@function
probe_address_32s:                              # R_X86_64_32S: movq $kv::size, %rax
    movq $_ZN5delos2kv4sizeEv, %rax
    ret

    .section .text.probe_address_32,"ax",@progbits
    .globl probe_address_32
    .type probe_address_32,@function
probe_address_32:                               # R_X86_64_32: movl $kv::size, %eax
    movl $_ZN5delos2kv4sizeEv, %eax
    ret

    .section .text.probe_address_pc32,"ax",@progbits
    .globl probe_address_pc32
    .type probe_address_pc32,@function
probe_address_pc32:                             # R_X86_64_PC32: leaq probe_words(%rip), %rax
    leaq probe_words(%rip), %rax
    ret

    .section .data.probe_words,"aw",@progbits
    .balign 8
    .globl probe_words
    .type probe_words,@object
probe_words:
    .quad _ZN5delos2kv4sizeEv + 16              # R_X86_64_64 into another cell, with an addend
    .quad _ZN5delos2kv4sizeEv - .               # R_X86_64_PC64
    .quad _ZN5delos6serial5writeENS_10StringViewE  # R_X86_64_64 to a kernel symbol
    .size probe_words, 24
)");

DELOS_CELL("reloc_probe", "1.0.0", nullptr, nullptr);
