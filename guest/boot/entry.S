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

    // The boot page tables are built at link time (below): under instruction emulation every
    // guest instruction costs ~1 µs, and the loader copies data for free.
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
    // FS base: the stack-limit block every function prologue reads (arch/x86_64/stack_limit.h)
    movl $0xc0000100, %ecx
    movl $delos_stack_limit_block, %eax
    xorl %edx, %edx
    wrmsr
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

    // PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 512 x 2 MiB pages: the first
    // 4 GiB identity-mapped read-write (the final, W^X map replaces it before handover).
    .section .nano_core.data, "aw"
    .balign 4096
boot_pml4:
    .quad boot_pdpt + 0x3
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_page_directories + 0x3
    .quad boot_page_directories + 0x1003
    .quad boot_page_directories + 0x2003
    .quad boot_page_directories + 0x3003
    .fill 508, 8, 0
boot_page_directories:
    .set large_page, 0
    .rept 2048
    .quad (large_page << 21) | 0x83     // present | writable | 2 MiB
    .set large_page, large_page + 1
    .endr

    // The same map with U/S=1 on every level, for kvm_pvm's native mode (the vCPU then runs at
    // hardware ring 3; see arch/x86_64/native_mode.h), entered right after the IDT is loaded.
    // Built here too: patching 2048 entries would cost milliseconds under emulation.
    // Its root sits at an odd frame: kvm_pvm runs natively only while CR3 bit 12 is set.
    .balign 8192
    .skip 4096
    .global boot_pml4_user
boot_pml4_user:
    .quad boot_pdpt_user + 0x7
    .fill 511, 8, 0
boot_pdpt_user:
    .quad boot_page_directories_user + 0x7
    .quad boot_page_directories_user + 0x1007
    .quad boot_page_directories_user + 0x2007
    .quad boot_page_directories_user + 0x3007
    .fill 508, 8, 0
boot_page_directories_user:
    .set large_page, 0
    .rept 2048
    .quad (large_page << 21) | 0x87     // present | writable | user | 2 MiB
    .set large_page, large_page + 1
    .endr

    .section .nano_core.bss, "aw", @nobits
    .balign 4096
boot_stack:
    .skip 16384
boot_stack_top:

    // The boot TSC outlives the nano_core: uptime is measured from it.
    .section .data.boot_entry_tsc, "aw"
    .balign 8
    .global boot_entry_tsc
boot_entry_tsc:
    .quad 0
