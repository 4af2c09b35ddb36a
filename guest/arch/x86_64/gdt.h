// gdt.h: the GDT (flat 64-bit code and data) and the TSS whose IST stacks catch double faults,
// NMIs and machine checks on known-good stacks. The layout is Linux's (kernel code 0x10, data
// 0x18, user data 0x2b, user code 0x33): kvm_pvm's native mode checks STAR against it and
// returns from events through its DPL3 selectors (docs/kvm-pvm-native-mode.md).
#pragma once

#include <cstdint>

namespace delos::arch {

inline constexpr std::uint16_t kKernelCodeSelector = 0x10;
inline constexpr std::uint16_t kKernelDataSelector = 0x18;
inline constexpr std::uint16_t kUser32CodeSelector = 0x23;
// kvm_pvm native mode: the vCPU runs at hardware ring 3, events enter through and return to these.
inline constexpr std::uint16_t kNativeDataSelector = 0x2b;
inline constexpr std::uint16_t kNativeCodeSelector = 0x33;
inline constexpr std::uint16_t kTssSelector = 0x40;

// IST slots (1-based, as the IDT encodes them).
inline constexpr std::uint8_t kIstDoubleFault = 1;
inline constexpr std::uint8_t kIstNmi = 2;
inline constexpr std::uint8_t kIstMachineCheck = 3;

// Loads the GDT and TSS; `ist_stack_tops[i]` is the top of IST stack i + 1. The TSS's rsp0 is a
// stack of its own: an exception from outside ring 0 (a task that left it through a corrupted
// iret; never the kernel in the ordinary path) arrives on a known-good stack.
void load_gdt_and_tss(const std::uint64_t ist_stack_tops[3]);

} // namespace delos::arch
