// pvh_note.S: the Xen PHYS32_ENTRY note that tells QEMU and delos-vmm where the PVH entry is.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                 // name size ("Xen\0")
    .long 8                 // descriptor size
    .long 18                // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .quad pvh_entry         // 8 bytes, as Linux emits it; QEMU reads a pointer-sized value
    .balign 4
