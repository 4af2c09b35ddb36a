// native_mode.cpp: detecting kvm_pvm and entering its native mode.
#include "arch/x86_64/native_mode.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"

extern "C" {
bool delos_native_mode = false;
bool delos_virtual_interrupt_flag = false;
bool delos_soft_interrupt_mask = true;  // the nano_core runs masked; scheduler::start unmasks
bool delos_pending_interrupt_summary = false;
std::uint64_t delos_pending_interrupts[4] = {};
bool delos_read_msr_safe(std::uint32_t msr, std::uint64_t* value);
bool delos_write_msr_safe(std::uint32_t msr, std::uint64_t value);
}

// rdi = msr, rsi = where to store the value / the value to write; returns 1, or 0 via the
// fixup after a #GP (interrupt_dispatch moves rip there).
asm(R"(
    .section .text.delos_read_msr_safe, "ax"
    .global delos_read_msr_safe
    .global delos_read_msr_safe_instruction
    .global delos_read_msr_safe_fixup
delos_read_msr_safe:
    movl %edi, %ecx
delos_read_msr_safe_instruction:
    rdmsr
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
    movq %rax, (%rsi)
    movl $1, %eax
    ret
delos_read_msr_safe_fixup:
    xorl %eax, %eax
    ret

    .section .text.delos_write_msr_safe, "ax"
    .global delos_write_msr_safe
    .global delos_write_msr_safe_instruction
    .global delos_write_msr_safe_fixup
delos_write_msr_safe:
    movl %edi, %ecx
    movl %esi, %eax
    movq %rsi, %rdx
    shrq $32, %rdx
delos_write_msr_safe_instruction:
    wrmsr
    movl $1, %eax
    ret
delos_write_msr_safe_fixup:
    xorl %eax, %eax
    ret
    .text
)");

namespace delos::arch {

namespace {

constexpr std::uint32_t kCpuidHypervisorBit = 1u << 31;

} // namespace

bool read_msr_safe(std::uint32_t msr, std::uint64_t& value) { return delos_read_msr_safe(msr, &value); }
bool write_msr_safe(std::uint32_t msr, std::uint64_t value) { return delos_write_msr_safe(msr, value); }

std::uint64_t msr_fixup_for(std::uint64_t rip)
{
    if (rip == reinterpret_cast<std::uint64_t>(delos_read_msr_safe_instruction))
        return reinterpret_cast<std::uint64_t>(delos_read_msr_safe_fixup);
    if (rip == reinterpret_cast<std::uint64_t>(delos_write_msr_safe_instruction))
        return reinterpret_cast<std::uint64_t>(delos_write_msr_safe_fixup);
    return 0;
}

bool detect_kvm_pvm()
{
    if (!(cpu::cpuid(1).ecx & kCpuidHypervisorBit))
        return false;
    std::uint64_t signature = 0;
    return read_msr_safe(kMsrPvmSignature, signature) && signature == kPvmSignature;
}

ErrorOr<void> enter_native_mode(std::uint64_t user_page_table_root)
{
    // kvm_pvm takes the kernel selectors from STAR (SYSCALL CS 0x10, SYSRET base 0x23 -> 0x2b/0x33).
    cpu::write_msr(cpu::kMsrStar, (std::uint64_t(kUser32CodeSelector) << 48) | (std::uint64_t(kKernelCodeSelector) << 32));
    std::uint64_t old_root = cpu::read_cr3();
    cpu::write_cr3(user_page_table_root);
    // The value the probes measured. From here on the CPU runs at hardware ring 3 (if it
    // worked), still with the ordinary IDT: events are off, and nano_core switches the gates next.
    if (!write_msr_safe(kMsrPvmControl, 1)) {
        cpu::write_cr3(old_root);
        return Error::make(ErrorCode::Unsupported, "kvm_pvm: writing the control MSR raised #GP");
    }
    // Not read back here: a #GP on the read would be delivered through the ordinary gates,
    // which native mode cannot use (the probes read 0x401 from the host side).
    delos_virtual_interrupt_flag = false;  // the nano_core runs with interrupts off
    delos_native_mode = true;
    return {};
}

} // namespace delos::arch
