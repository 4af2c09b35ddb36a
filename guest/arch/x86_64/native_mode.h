// native_mode.h: kvm_pvm's native mode. This host's KVM (kvm_pvm, no VT-x) emulates every guest
// instruction (~650 ns each) until the guest opts in; then the vCPU runs at hardware ring 3 at
// native speed. The contract, measured by probes, is in docs/kvm-pvm-native-mode.md.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::arch {

inline constexpr std::uint32_t kMsrPvmControl = 0x4b564d10;    // bit 0: enter native mode
inline constexpr std::uint32_t kMsrPvmSignature = 0x4b564d11;  // reads "PVM"
inline constexpr std::uint32_t kMsrPvmTscKhz = 0x4b564d13;
inline constexpr std::uint64_t kPvmSignature = 0x4d5650;
inline constexpr std::uint64_t kPvmNativeModeOn = 0x401;       // what the control MSR reads after the switch

// rdmsr/wrmsr that survive a #GP (an unknown MSR on real KVM): false if the CPU refused it.
bool read_msr_safe(std::uint32_t msr, std::uint64_t& value);
bool write_msr_safe(std::uint32_t msr, std::uint64_t value);
// Where a #GP at `rip` resumes if rip is one of the safe MSR instructions; 0 otherwise.
std::uint64_t msr_fixup_for(std::uint64_t rip);

// Whether this vCPU runs under kvm_pvm: CPUID says hypervisor, and the signature MSR reads
// "PVM". Harmless elsewhere (QEMU TCG reads unknown MSRs as 0; real KVM raises #GP, caught).
bool detect_kvm_pvm();

// Switches to native mode on `user_page_table_root`. Needs: long mode CPL0 with the GDT of
// gdt.h loaded (CS 0x10, SS 0x18), interrupts off, and that root mapping everything in use with
// U/S=1 on every level and sitting at an odd frame (CR3 bit 12 set: with an even root kvm_pvm
// silently stays in instruction emulation). On success cpu::native_mode() is true and the
// caller must load the IDT with native gates (interrupts.h) before any event can happen. An
// error leaves the CPU in the ordinary mode on the old root.
ErrorOr<void> enter_native_mode(std::uint64_t user_page_table_root);

} // namespace delos::arch

extern "C" {
extern const char delos_read_msr_safe_instruction[], delos_read_msr_safe_fixup[];
extern const char delos_write_msr_safe_instruction[], delos_write_msr_safe_fixup[];
}
