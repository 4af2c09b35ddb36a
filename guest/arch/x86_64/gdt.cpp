// gdt.cpp: descriptor tables for long mode.
#include "arch/x86_64/gdt.h"

namespace delos::arch {

namespace {

struct [[gnu::packed]] TaskStateSegment {
    std::uint32_t reserved0;
    std::uint64_t rsp[3];
    std::uint64_t reserved1;
    std::uint64_t ist[7];
    std::uint64_t reserved2;
    std::uint16_t reserved3;
    std::uint16_t io_map_base;
};
static_assert(sizeof(TaskStateSegment) == 104);

struct [[gnu::packed]] DescriptorPointer {
    std::uint16_t limit;
    std::uint64_t base;
};

TaskStateSegment g_tss;
// Where an exception from outside ring 0 arrives (TSS rsp0). In the ordinary path the kernel never
// runs there: only a task whose corrupted code left ring 0 through an iret gets here, and fault
// containment ends it (recovery/fault_containment.cpp). One CPU: one stack.
alignas(16) std::uint8_t g_ring_exit_stack[16384];
alignas(16) std::uint64_t g_gdt[10];

} // namespace

void load_gdt_and_tss(const std::uint64_t ist_stack_tops[3])
{
    for (int i = 0; i < 3; ++i)
        g_tss.ist[i] = ist_stack_tops[i];
    g_tss.io_map_base = sizeof(TaskStateSegment);  // no I/O permission bitmap
    g_tss.rsp[0] = reinterpret_cast<std::uint64_t>(g_ring_exit_stack + sizeof g_ring_exit_stack);

    auto tss = reinterpret_cast<std::uint64_t>(&g_tss);
    std::uint64_t limit = sizeof(TaskStateSegment) - 1;
    g_gdt[0] = 0;
    g_gdt[1] = 0;                      // 0x08: unused (Linux's 32-bit kernel code)
    g_gdt[2] = 0x00af9b000000ffffull;  // 0x10: 64-bit code, ring 0
    g_gdt[3] = 0x00cf93000000ffffull;  // 0x18: data, writable, ring 0
    g_gdt[4] = 0x00cffb000000ffffull;  // 0x23: 32-bit code, ring 3 (STAR's SYSRET base; unused)
    g_gdt[5] = 0x00cff3000000ffffull;  // 0x2b: data, ring 3 (native mode)
    g_gdt[6] = 0x00affb000000ffffull;  // 0x33: 64-bit code, ring 3 (native mode event gates)
    g_gdt[7] = 0;
    g_gdt[8] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
               (((tss >> 24) & 0xff) << 56);  // available 64-bit TSS
    g_gdt[9] = tss >> 32;

    DescriptorPointer pointer{sizeof(g_gdt) - 1, reinterpret_cast<std::uint64_t>(g_gdt)};
    asm volatile(
        "lgdt %0\n"
        "pushq %1\n"
        "leaq 1f(%%rip), %%rax\n"
        "pushq %%rax\n"
        "lretq\n"
        "1:\n"
        "movw %2, %%ax\n"
        "movw %%ax, %%ds\n"
        "movw %%ax, %%es\n"
        "movw %%ax, %%ss\n"
        "xorl %%eax, %%eax\n"
        "movw %%ax, %%fs\n"
        "movw %%ax, %%gs\n"
        "ltr %w3\n"
        // A null FS may clear its base: point it at the stack-limit block again before any
        // function prologue reads the limit (arch/x86_64/stack_limit.h).
        "movl $0xc0000100, %%ecx\n"
        "movl $delos_stack_limit_block, %%eax\n"
        "xorl %%edx, %%edx\n"
        "wrmsr\n"
        :
        : "m"(pointer), "i"(kKernelCodeSelector), "i"(kKernelDataSelector), "r"(kTssSelector)
        : "rax", "rcx", "rdx", "memory");
}

} // namespace delos::arch
