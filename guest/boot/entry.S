// entry.S: the PVH entry. We arrive in 32-bit protected mode, paging off, %ebx = hvm_start_info.
// Build boot page tables (identity map of the first 4 GiB with 2 MiB pages), enter long mode and
// call nano_core_main(start_info) on the boot stack. Everything here is reclaimed after boot.
    .section .nano_core.text, "ax"
    .code32
    .global pvh_entry
pvh_entry:
    cli
    cld
    movl %ebx, %esi                     // keep start_info
    rdtsc
    movl %eax, boot_entry_tsc
    movl %edx, boot_entry_tsc + 4

    // PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 512 x 2 MiB pages.
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    movl $boot_page_directories, %eax
    orl $0x3, %eax
    movl $boot_pdpt, %edi
    movl $4, %ecx
1:  movl %eax, (%edi)
    addl $4096, %eax
    addl $8, %edi
    loop 1b
    movl $boot_page_directories, %edi
    movl $0x83, %eax                    // present | writable | 2 MiB
    xorl %edx, %edx
    movl $2048, %ecx
2:  movl %eax, (%edi)
    movl %edx, 4(%edi)
    addl $0x200000, %eax
    adcl $0, %edx
    addl $8, %edi
    loop 2b

    movl %cr4, %eax
    orl $(1 << 5), %eax                 // PAE
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx              // EFER
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax   // long mode, no-execute
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax               // paging, write-protect (even ring 0 obeys R/O), protected mode
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl %esi, %edi                     // nano_core_main(start_info_address)
    call nano_core_main
    ud2

    .section .nano_core.rodata, "a"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            // 0x08: 64-bit code
    .quad 0x00cf92000000ffff            // 0x10: data
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .nano_core.bss, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_page_directories:
    .skip 4 * 4096
boot_stack:
    .skip 16384
boot_stack_top:

    // The boot TSC outlives the nano_core: uptime is measured from it.
    .section .data.boot_entry_tsc, "aw"
    .balign 8
    .global boot_entry_tsc
boot_entry_tsc:
    .quad 0
