// cpu.h: x86-64 instructions the kernel needs, as inline functions (ports, MSRs, control registers).
#pragma once

#include <cstdint>

// kvm_pvm native mode (native_mode.h): the vCPU runs at hardware ring 3, where pushfq always
// shows IF=1 and popfq cannot change it. cli/sti still set the virtual IF (they trap), so the
// kernel keeps its own copy of it: written by every cli/sti below and by the interrupt entry
// and return paths (interrupts.S). Single vCPU, so one copy.
//
// In native mode interrupts are masked in software ("soft mask"), because each cli/sti traps
// (~2.5 µs): disable_interrupts() only sets delos_soft_interrupt_mask. A maskable interrupt
// (vector >= 32) that arrives while it is set is recorded in delos_pending_interrupts and the
// entry path returns leaving the virtual IF off, without running the handler or sending EOI.
// Every place where the mask goes from set to clear (enable_interrupts, the idle helper, the
// interrupt return path) runs what is pending right there, then turns the virtual IF back on.
// Invariant outside those few instructions: something pending => the virtual IF is off, and
// mask clear => virtual IF on and nothing pending. delos_virtual_interrupt_flag stays the copy
// of the real virtual IF. The ordinary path (real KVM, QEMU TCG) uses cli/sti as always.
extern "C" bool delos_native_mode;
extern "C" bool delos_virtual_interrupt_flag;
extern "C" bool delos_soft_interrupt_mask;
extern "C" bool delos_pending_interrupt_summary;  // some bit of delos_pending_interrupts may be set
extern "C" std::uint64_t delos_pending_interrupts[4];
extern "C" void delos_enable_interrupts_and_halt();
extern "C" bool delos_soft_unmask_slow();
extern "C" const char delos_halt_instruction[];

namespace delos::cpu {

inline void out8(std::uint16_t port, std::uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline void out16(std::uint16_t port, std::uint16_t value) { asm volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
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
// Native mode: the soft mask (what the kernel asked for), not the virtual IF.
inline bool interrupts_enabled()
{
    if (delos_native_mode)
        return !__atomic_load_n(&delos_soft_interrupt_mask, __ATOMIC_RELAXED);
    return read_flags() & (1u << 9);
}
inline void disable_interrupts()
{
    if (delos_native_mode) {
        __atomic_store_n(&delos_soft_interrupt_mask, true, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);  // masked before anything that follows
        return;
    }
    asm volatile("cli" ::: "memory");
    __atomic_store_n(&delos_virtual_interrupt_flag, false, __ATOMIC_RELAXED);
}
inline void enable_interrupts()
{
    if (delos_native_mode) {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);  // everything before stays masked
        __atomic_store_n(&delos_soft_interrupt_mask, false, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        // Cleared first, checked second: an interrupt after the clear is handled at once; one
        // deferred before it left the virtual IF off, so nothing else can have come since.
        if (__builtin_expect(__atomic_load_n(&delos_pending_interrupt_summary, __ATOMIC_RELAXED) ||
                                 !__atomic_load_n(&delos_virtual_interrupt_flag, __ATOMIC_RELAXED),
                             0))
            (void)delos_soft_unmask_slow();  // runs what is pending, then a real sti
        return;
    }
    __atomic_store_n(&delos_virtual_interrupt_flag, true, __ATOMIC_RELAXED);
    asm volatile("sti" ::: "memory");
}
// The real cli, in both modes (and the soft mask in native mode): for panic and shutdown, where
// nothing may run any more, and the mode probe, which measures the trap.
inline void disable_interrupts_hard()
{
    __atomic_store_n(&delos_soft_interrupt_mask, true, __ATOMIC_RELAXED);
    asm volatile("cli" ::: "memory");
    __atomic_store_n(&delos_virtual_interrupt_flag, false, __ATOMIC_RELAXED);
}
// The real sti without touching the soft mask (native mode: an interrupt then is deferred if
// the mask is set). The soft unmask's slow path ends with it; the mode probe measures it.
inline void enable_interrupts_hard()
{
    __atomic_store_n(&delos_virtual_interrupt_flag, true, __ATOMIC_RELAXED);
    asm volatile("sti" ::: "memory");
}
// Native mode: whether `vector` arrived while masked and waits for the unmask (selftests).
inline bool interrupt_pending(std::uint8_t vector)
{
    return __atomic_load_n(&delos_pending_interrupts[vector / 64], __ATOMIC_RELAXED) & (1ull << (vector % 64));
}
inline void halt() { asm volatile("hlt" ::: "memory"); }
// sti; hlt as one unit, so no wake-up is lost between them. Hardware relies on the sti shadow;
// kvm_pvm's native mode can deliver an interrupt right after the (trapped) sti, so the
// interrupt entry also moves a frame that stopped at this hlt past it (interrupts.cpp).
// Native mode (soft mask): clears the mask; if something is pending it runs it and returns
// without halting; otherwise halts with the virtual IF on, and an interrupt anywhere between
// the check and the hlt resumes after the hlt (the same fixup, over a window).
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
