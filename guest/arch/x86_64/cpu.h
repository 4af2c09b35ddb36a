// cpu.h: x86-64 instructions the kernel needs, as inline functions (ports, MSRs, control registers).
#pragma once

#include <cstdint>

// kvm_pvm native mode (native_mode.h): the vCPU runs at hardware ring 3, where pushfq always
// shows IF=1 and popfq cannot change it. cli/sti still set the virtual IF (they trap), so the
// kernel keeps its own copy of it: written by every cli/sti below and by the interrupt entry
// and return paths (interrupts.S). Single vCPU, so one copy.
extern "C" bool delos_native_mode;
extern "C" bool delos_virtual_interrupt_flag;
extern "C" void delos_enable_interrupts_and_halt();
extern "C" const char delos_halt_instruction[];

namespace delos::cpu {

inline void out8(std::uint16_t port, std::uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline void out32(std::uint16_t port, std::uint32_t value) { asm volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }
inline std::uint32_t in32(std::uint16_t port)
{
    std::uint32_t value;
    asm volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
inline std::uint8_t in8(std::uint16_t port)
{
    std::uint8_t value;
    asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

inline std::uint64_t read_msr(std::uint32_t msr)
{
    std::uint32_t low, high;
    asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return (std::uint64_t(high) << 32) | low;
}
inline void write_msr(std::uint32_t msr, std::uint64_t value)
{
    asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<std::uint32_t>(value)), "d"(static_cast<std::uint32_t>(value >> 32)));
}

inline std::uint64_t read_cr0() { std::uint64_t v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
inline std::uint64_t read_cr2() { std::uint64_t v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
inline std::uint64_t read_cr3() { std::uint64_t v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
inline std::uint64_t read_cr4() { std::uint64_t v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
inline void write_cr3(std::uint64_t v) { asm volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
inline void write_cr4(std::uint64_t v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }

inline void invalidate_page(std::uint64_t address) { asm volatile("invlpg (%0)" ::"r"(address) : "memory"); }

inline std::uint64_t read_tsc()
{
    std::uint32_t low, high;
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    return (std::uint64_t(high) << 32) | low;
}

struct CpuidResult {
    std::uint32_t eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0)
{
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

inline std::uint64_t read_flags()
{
    std::uint64_t flags;
    asm volatile("pushfq; popq %0" : "=r"(flags)::"memory");
    return flags;
}
inline bool native_mode() { return delos_native_mode; }
inline bool interrupts_enabled()
{
    if (delos_native_mode)
        return __atomic_load_n(&delos_virtual_interrupt_flag, __ATOMIC_RELAXED);
    return read_flags() & (1u << 9);
}
inline void disable_interrupts()
{
    asm volatile("cli" ::: "memory");
    __atomic_store_n(&delos_virtual_interrupt_flag, false, __ATOMIC_RELAXED);
}
inline void enable_interrupts()
{
    __atomic_store_n(&delos_virtual_interrupt_flag, true, __ATOMIC_RELAXED);
    asm volatile("sti" ::: "memory");
}
inline void halt() { asm volatile("hlt" ::: "memory"); }
// sti; hlt as one unit, so no wake-up is lost between them. Hardware relies on the sti shadow;
// kvm_pvm's native mode can deliver an interrupt right after the (trapped) sti, so the
// interrupt entry also moves a frame that stopped at this hlt past it (interrupts.cpp).
inline void enable_interrupts_and_halt() { delos_enable_interrupts_and_halt(); }
inline void pause() { asm volatile("pause"); }

[[noreturn]] inline void halt_forever()
{
    for (;;)
        asm volatile("cli; hlt");
}

inline constexpr std::uint32_t kMsrEfer = 0xc0000080;
inline constexpr std::uint32_t kMsrStar = 0xc0000081;
inline constexpr std::uint32_t kMsrFsBase = 0xc0000100;
inline constexpr std::uint32_t kMsrGsBase = 0xc0000101;

} // namespace delos::cpu
