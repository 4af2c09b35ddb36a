// interrupts.h: the IDT, exception reporting, and registration of device interrupt handlers.
#pragma once

#include <cstdint>

#include "arch/x86_64/interrupt_frame.h"

namespace delos::arch {

// Installs all 256 vectors; exceptions use IST stacks where gdt.h says so.
void load_idt();
// Installs only the #GP gate, enough for the #GP-safe MSR probes (native_mode.h).
void load_probe_idt();
// kvm_pvm native mode: every gate targets the DPL3 code segment, DPL3, without IST.
void use_native_gates();

using InterruptHandler = void (*)(InterruptFrame& frame);
// Vectors 32..255. The handler runs with interrupts disabled and must acknowledge its device.
void set_interrupt_handler(std::uint8_t vector, InterruptHandler handler);

// Exception hook for recovery (fault probes now, task unwinding later): return true if the
// exception was handled and the (possibly modified) frame should be resumed.
using ExceptionHook = bool (*)(InterruptFrame& frame);
void set_exception_hook(ExceptionHook hook);

const char* exception_name(std::uint64_t vector);

// For exception hooks: whether the code the exception interrupted ran with interrupts masked
// (a spin lock held, or interrupt context): the IF in the frame, or in native mode the soft mask.
bool exception_interrupted_masked_code(const InterruptFrame& frame);

// Native mode: how many maskable interrupts arrived while soft-masked and were deferred.
std::uint64_t deferred_interrupt_count();

} // namespace delos::arch
