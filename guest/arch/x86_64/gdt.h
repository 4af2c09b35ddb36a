// gdt.h: the GDT (flat 64-bit code and data) and the TSS whose IST stacks catch double faults,
// NMIs and machine checks on known-good stacks.
#pragma once

#include <cstdint>

namespace delos::arch {

inline constexpr std::uint16_t kKernelCodeSelector = 0x08;
inline constexpr std::uint16_t kKernelDataSelector = 0x10;
inline constexpr std::uint16_t kTssSelector = 0x18;

// IST slots (1-based, as the IDT encodes them).
inline constexpr std::uint8_t kIstDoubleFault = 1;
inline constexpr std::uint8_t kIstNmi = 2;
inline constexpr std::uint8_t kIstMachineCheck = 3;

// Loads the GDT and TSS; `ist_stack_tops[i]` is the top of IST stack i + 1.
void load_gdt_and_tss(const std::uint64_t ist_stack_tops[3]);

} // namespace delos::arch
