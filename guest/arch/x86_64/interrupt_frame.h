// interrupt_frame.h: what the interrupt entry stubs push, in the order interrupts.S pushes it.
#pragma once

#include <cstdint>

namespace delos::arch {

struct InterruptFrame {
    std::uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    std::uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    std::uint64_t vector;
    std::uint64_t error_code;  // 0 for vectors without one
    // Pushed by the CPU:
    std::uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(InterruptFrame) == 22 * 8);

} // namespace delos::arch
