// exception_report.cpp: what the console shows when an exception is fatal.
#include "debug/exception_report.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
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

void log_spurious_interrupt(arch::InterruptFrame& frame) { kprint("delos: spurious interrupt vector {}\n", frame.vector); }

} // namespace

void install_exception_report()
{
    arch::set_fatal_exception_reporter(report_fatal_exception);
    arch::set_spurious_interrupt_handler(log_spurious_interrupt);
}

} // namespace delos
