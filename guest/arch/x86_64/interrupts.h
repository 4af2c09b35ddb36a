// interrupts.h: the IDT, the exception hook chain, and registration of device interrupt handlers.
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
// Called for a vector nobody registered (after counting it), e.g. to log it.
void set_spurious_interrupt_handler(InterruptHandler handler);
std::uint64_t spurious_interrupt_count();

// Exception hooks form a chain: each subscriber (the selftest's fault probe, fault recovery)
// is asked in order of its rank, lowest first; one that returns true has handled the exception
// and the (possibly modified) frame is resumed. An exception no hook takes goes to the fatal
// reporter. Hooks run in exception context: they must not block. The chain is fixed-size and
// meant to be set up at boot (adding and removing are not synchronised with a running hook).
using ExceptionHook = bool (*)(InterruptFrame& frame);
inline constexpr unsigned kMaxExceptionHooks = 8;
// Ranks: resumable probes are asked before recovery, which is asked before anything generic.
inline constexpr int kExceptionRankProbe = 10;
inline constexpr int kExceptionRankRecovery = 50;
// False if the chain is full or `hook` is already in it.
bool add_exception_hook(ExceptionHook hook, int rank);
void remove_exception_hook(ExceptionHook hook);
// Deprecated single-slot form: adds `hook` at kExceptionRankRecovery.
inline void set_exception_hook(ExceptionHook hook) { (void)add_exception_hook(hook, kExceptionRankRecovery); }

// What happens to an exception nobody handled: the reporter prints what it knows and stops the
// machine (debug/exception_report.h installs it; arch/ knows nothing about consoles or exits).
// Without one, the CPU halts with interrupts off.
using FatalExceptionReporter = void (*)(const InterruptFrame& frame);
void set_fatal_exception_reporter(FatalExceptionReporter reporter);

const char* exception_name(std::uint64_t vector);

// Handles `frame` as an exception (the hook chain, then the fatal reporter), from a handler that
// rewrote an interrupt into one (debug/exception_report.cpp: an `int n` of a task's code).
void handle_as_exception(InterruptFrame& frame);

// For exception hooks: whether the code the exception interrupted ran with interrupts masked
// (a spin lock held, or interrupt context): the IF in the frame, or in native mode the soft mask.
bool exception_interrupted_masked_code(const InterruptFrame& frame);
// Whether the interrupted code ran outside ring 0 in the ordinary path, where the kernel never
// does (kvm_pvm's native mode runs everything at ring 3: never there): a task's corrupted iret.
bool frame_left_ring_zero(const InterruptFrame& frame);

// Native mode: how many maskable interrupts arrived while soft-masked and were deferred.
std::uint64_t deferred_interrupt_count();

} // namespace delos::arch
