// exception_report.cpp: what the console shows when an exception is fatal.
#include "debug/exception_report.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
#include "apic/local_apic.h"
#include "memory/page_table.h"
#include "debug/backtrace.h"
#include "log/kernel_log.h"
#include "debug/kernel_symbols.h"
#include "platform/platform_ports.h"

namespace delos {

namespace {

constexpr std::uint64_t kPageFault = 14;

void describe_page_fault(std::uint64_t error_code)
{
    kprint("  page fault: {} {} page{}{}, cr2={:#018x}\n", (error_code & 2) ? "write to" : "read from",
           (error_code & 1) ? "a protected" : "a non-present", (error_code & 16) ? ", instruction fetch" : "",
           (error_code & 8) ? ", reserved bit set" : "", cpu::read_cr2());
}

void report_fatal_exception(const arch::InterruptFrame& frame)
{
    // The location names the cell and its version when the fault is in a cell.
    char location[256];
    FixedBufferSink sink(location, sizeof location);
    describe_code_address(sink, frame.rip, frame.rip);
    kprint("delos: EXCEPTION {} (vector {}) error {:#x} at rip {:#018x} <{}>\n", arch::exception_name(frame.vector),
           frame.vector, frame.error_code, frame.rip, sink.view());
    if (frame.vector == kPageFault)
        describe_page_fault(frame.error_code);
    kprint("  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n", frame.rax, frame.rbx, frame.rcx, frame.rdx);
    kprint("  rsi={:016x} rdi={:016x} rbp={:016x} rsp={:016x}\n", frame.rsi, frame.rdi, frame.rbp, frame.rsp);
    kprint("  r8 ={:016x} r9 ={:016x} r10={:016x} r11={:016x}\n", frame.r8, frame.r9, frame.r10, frame.r11);
    kprint("  r12={:016x} r13={:016x} r14={:016x} r15={:016x}\n", frame.r12, frame.r13, frame.r14, frame.r15);
    kprint("  rflags={:08x} cs={:x} ss={:x} cr0={:x} cr3={:x} cr4={:x}{}\n", frame.rflags, frame.cs, frame.ss,
           cpu::read_cr0(), cpu::read_cr3(), cpu::read_cr4(),
           cpu::native_mode() ? " (kvm_pvm native mode: cs/ss are the host's ring-3 selectors)" : "");
    print_backtrace(frame.rbp, frame.rip);
    platform::shutdown(platform::kExitPanic);
}

// Whether a vector nobody handles came from an `int n` instruction right before rip (a corrupted
// task's code), not from a device: the two bytes are `cd n`, and the local APIC has no such
// interrupt in service. Not in kvm_pvm's native mode, where events arrive differently.
bool from_an_int_instruction(const arch::InterruptFrame& frame)
{
    if (cpu::native_mode() || frame.rip < 2 || memory::kernel_page_table().access_of(frame.rip - 2) == memory::Access::None)
        return false;
    const auto* code = reinterpret_cast<const std::uint8_t*>(frame.rip - 2);
    if (code[0] != 0xcd || code[1] != frame.vector)
        return false;
    return !local_apic::initialized() || !local_apic::interrupt_in_service(static_cast<std::uint8_t>(frame.vector));
}

// A vector with no handler. From an `int n` of the interrupted code, it becomes what ring 3 gets
// from a ring-0 gate: a #GP with error code n * 8 + 2 at that instruction, which fault containment
// makes the task's fault (a corrupted cell had looped on `int 0xa1`, each one only logged, for
// ever). Anything else is logged: a device nobody drives.
void on_vector_without_handler(arch::InterruptFrame& frame)
{
    if (from_an_int_instruction(frame)) {
        frame.error_code = (frame.vector << 3) | 2;
        frame.vector = 13;
        frame.rip -= 2;
        arch::handle_as_exception(frame);
        return;
    }
    kprint("delos: spurious interrupt vector {}\n", frame.vector);
}

} // namespace

void install_exception_report()
{
    arch::set_fatal_exception_reporter(report_fatal_exception);
    arch::set_spurious_interrupt_handler(on_vector_without_handler);
}

} // namespace delos
