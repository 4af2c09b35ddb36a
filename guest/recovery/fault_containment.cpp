// fault_containment.cpp: the exception hook that decides whether a fault can be contained, the
// fault report, and the task-context half that unwinds the task and ends it Faulted.
#include "recovery/fault_containment.h"

#include <new>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
#include "debug/backtrace.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "runtime/unwinder.h"
#include "recovery/fault_log.h"
#include "task/scheduler.h"
#include "task/task.h"
#include "task/task_entry.h"

namespace delos::task {

namespace {

using unwind::RegisterSet;

constexpr std::uint64_t kDivideError = 0, kBreakpoint = 3, kOverflow = 4, kBoundRange = 5, kInvalidOpcode = 6,
                        kStackFault = 12, kGeneralProtection = 13, kPageFault = 14, kX87Error = 16,
                        kAlignmentCheck = 17, kSimdError = 19;

std::uint64_t g_contained = 0;
std::uint64_t g_refused = 0;
FaultRecoveryDecider g_decider = nullptr;
bool g_console_reports = true;

bool containable_vector(std::uint64_t vector)
{
    switch (vector) {
    case kDivideError: case kBreakpoint: case kOverflow: case kBoundRange: case kInvalidOpcode: case kStackFault:
    case kGeneralProtection: case kPageFault: case kX87Error: case kAlignmentCheck: case kSimdError:
        return true;
    default:
        return false;  // #DB, NMI, #DF, #MC and the rest are never a task's own doing
    }
}

// #BP and #OF are traps: rip is already past the instruction, like a return address.
unwinding::FirstFrame first_frame_kind(std::uint64_t vector)
{
    return (vector == kBreakpoint || vector == kOverflow) ? unwinding::FirstFrame::ReturnAddress
                                                          : unwinding::FirstFrame::FaultingInstruction;
}

RegisterSet registers_of(const arch::InterruptFrame& frame)
{
    using namespace unwind;
    RegisterSet registers;
    registers.set(kRax, frame.rax);
    registers.set(kRdx, frame.rdx);
    registers.set(kRcx, frame.rcx);
    registers.set(kRbx, frame.rbx);
    registers.set(kRsi, frame.rsi);
    registers.set(kRdi, frame.rdi);
    registers.set(kRbp, frame.rbp);
    registers.set(kRsp, frame.rsp);
    registers.set(kR8, frame.r8);
    registers.set(kR9, frame.r9);
    registers.set(kR10, frame.r10);
    registers.set(kR11, frame.r11);
    registers.set(kR12, frame.r12);
    registers.set(kR13, frame.r13);
    registers.set(kR14, frame.r14);
    registers.set(kR15, frame.r15);
    registers.set(kReturnAddress, frame.rip);
    return registers;
}

// Says why a fault in task context stays fatal; the fatal report follows.
bool refuse(const Task* task, const char* why, std::uint64_t ip = 0, const char* detail = nullptr)
{
    ++g_refused;
    if (detail)
        kprint("delos: fault in task {} ({}) not contained: {} at {:#x}: {}\n", task->id(), task->name(), why, ip, detail);
    else
        kprint("delos: fault in task {} ({}) not contained: {}\n", task->id(), task->name(), why);
    return false;
}

constexpr std::size_t kReportFrames = 32;

void print_report(const Task& task, const arch::InterruptFrame& frame, std::uint64_t fault_address, std::size_t frames,
                  const std::uint64_t* ips)
{
    char location[256];
    FixedBufferSink sink(location, sizeof location);
    describe_code_address(sink, frame.rip, frame.rip);
    kprint("delos: FAULT #{} in task {} ({}, cell {}): {} (vector {}) error {:#x} at rip {:#018x} <{}>\n",
           task.m_fault.sequence, task.id(), task.name(), task.cell(), arch::exception_name(frame.vector), frame.vector,
           frame.error_code, frame.rip, sink.view());
    if (frame.vector == kPageFault)
        kprint("  page fault: {} {} page, cr2={:#018x}\n", (frame.error_code & 2) ? "write to" : "read from",
               (frame.error_code & 1) ? "a protected" : "a non-present", fault_address);
    kprint("  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n", frame.rax, frame.rbx, frame.rcx, frame.rdx);
    kprint("  rsi={:016x} rdi={:016x} rbp={:016x} rsp={:016x}\n", frame.rsi, frame.rdi, frame.rbp, frame.rsp);
    kprint("  r8 ={:016x} r9 ={:016x} r10={:016x} r11={:016x}\n", frame.r8, frame.r9, frame.r10, frame.r11);
    kprint("  r12={:016x} r13={:016x} r14={:016x} r15={:016x} rflags={:08x}\n", frame.r12, frame.r13, frame.r14,
           frame.r15, frame.rflags);
    // From the CFI walk just checked: it crosses cells and frames without frame pointers alike.
    kprint("backtrace (from unwind tables):\n");
    for (std::size_t i = 0; i < frames && i < kReportFrames; ++i) {
        char location[256];
        FixedBufferSink frame_sink(location, sizeof location);
        describe_code_address(frame_sink, ips[i], i == 0 ? ips[i] : ips[i] - 1);
        kprint("  #{} {:#018x} {}\n", i, ips[i], frame_sink.view());
    }
    kprint("  recovery: unwinding {} frames, the task ends faulted\n", frames);
}

// The end of the walk: the task's entry trampoline. Runs on the unwound task's stack.
void finish_unwind(unwinding::ForcedUnwind& unwind)
{
    auto* task = static_cast<Task*>(unwind.owner);
    task->m_fault.frames = unwind.frames;
    task->m_fault.landing_pads = unwind.landing_pads;
    {
        scheduler::ChargeToKernel kernel_memory;
        delete &unwind;
    }
    task->m_unwinding = false;
    task->m_end = TaskEnd::Faulted;
    release_and_exit(task);
}

} // namespace

// Entered from the exception hook's modified frame (iretq), on the faulting task's stack below
// the faulting frame, with interrupts as the task had them.
extern "C" [[noreturn]] void delos_fault_unwind_entry()
{
    Task* task = scheduler::current_task();
    unwinding::ForcedUnwind* unwind;
    {
        scheduler::ChargeToKernel kernel_memory;
        unwind = new (std::nothrow) unwinding::ForcedUnwind();
    }
    if (!unwind)
        panic("fault containment: no memory to unwind a faulted task");
    unwind->stop = finish_unwind;
    unwind->stack_low = task->m_stack.bottom();
    unwind->stack_high = task->m_stack.top();
    unwind->owner = task;
    RegisterSet registers;
    for (std::uint32_t r = 0; r < unwind::kRegisterCount; ++r)
        registers.set(r, task->m_fault_registers[r]);
    // A wild call's fault unwinds from the caller's return address (see contain_fault).
    bool from_return_address = task->m_fault_registers[unwind::kReturnAddress] != task->m_fault.instruction_pointer;
    unwinding::run_forced_unwind(*unwind, registers,
                                 from_return_address ? unwinding::FirstFrame::ReturnAddress : first_frame_kind(task->m_fault.vector));
}

bool contain_fault(arch::InterruptFrame& frame)
{
    if (!containable_vector(frame.vector) || !scheduler::started())
        return false;
    Task* task = scheduler::current_task();
    if (!task)
        return false;
    if (!task->m_stack.valid() || scheduler::is_idle_task(task))
        return refuse(task, "the boot and idle tasks are the kernel's own");
    if (arch::exception_interrupted_masked_code(frame))
        return refuse(task, "interrupts were masked (interrupt context or a spin lock held)");
    if (task->m_unwinding)
        return refuse(task, "a fault while unwinding");
    std::uint64_t stack_low = task->m_stack.bottom(), stack_high = task->m_stack.top();
    if (frame.rsp < stack_low + 1024 || frame.rsp >= stack_high)
        return refuse(task, "the stack pointer is outside the task's stack or too close to its end");
    RegisterSet registers = registers_of(frame);
    std::uint64_t failing_ip = 0;
    std::uint64_t ips[kReportFrames];
    auto frames = unwinding::check_unwindable(registers, first_frame_kind(frame.vector), stack_low, stack_high, failing_ip,
                                              ips, kReportFrames);
    if (frames.is_error() && frame.vector == kPageFault && (frame.error_code & 0x10) && failing_ip == frame.rip) {
        // An instruction fetch from where no code is (a wild call into data, a null function
        // pointer): no frame exists there. A call left its return address at [rsp]; the unwind
        // starts in the caller (delos_fault_unwind_entry sees the return address differ from rip).
        RegisterSet caller = registers;
        caller.set(unwind::kReturnAddress, *reinterpret_cast<const std::uint64_t*>(frame.rsp));
        caller.set(unwind::kRsp, frame.rsp + 8);
        auto from_caller = unwinding::check_unwindable(caller, unwinding::FirstFrame::ReturnAddress, stack_low, stack_high,
                                                       failing_ip, ips + 1, kReportFrames - 1);
        if (!from_caller.is_error()) {
            registers = caller;
            ips[0] = frame.rip;
            frames = from_caller.value() + 1;
        }
    }
    if (frames.is_error())
        return refuse(task, "its stack cannot be unwound", failing_ip, frames.error().message);

    std::uint64_t fault_address = frame.vector == kPageFault ? cpu::read_cr2() : 0;
    task->m_fault = {frame.vector, frame.error_code, frame.rip, fault_address, ++g_contained, 0, 0};
    task->m_unwinding = true;
    for (std::uint32_t r = 0; r < unwind::kRegisterCount; ++r)
        task->m_fault_registers[r] = registers.values[r];
    if (g_console_reports)
        print_report(*task, frame, fault_address, frames.value(), ips);
    // Static, not on the faulting stack (an entry is ~1.7 KiB): hooks do not nest, since a fault
    // while containing one is not contained.
    static FaultLogEntry entry;
    entry = {};
    entry.sequence = task->m_fault.sequence;
    entry.vector = frame.vector;
    entry.error_code = frame.error_code;
    entry.instruction_pointer = frame.rip;
    entry.fault_address = fault_address;
    entry.task = task->id();
    entry.cell = task->cell();
    for (std::size_t i = 0; i + 1 < kTaskNameLength && task->name()[i]; ++i)
        entry.task_name[i] = task->name()[i];
    FixedBufferSink location(entry.location, sizeof entry.location - 1);  // the last byte stays NUL
    describe_code_address(location, frame.rip, frame.rip);
    describe_fault_code(entry.at, frame.rip, frame.rip);
    for (std::size_t i = 0; i < frames.value() && i < kFaultLogFrames; ++i)
        describe_fault_code(entry.backtrace[entry.backtrace_frames++], ips[i], i == 0 ? ips[i] : ips[i] - 1);
    if (g_decider)
        g_decider(*task, entry);
    record_fault(entry);

    // Resume in the unwinder below the faulting frame; what lies below the faulting rsp is dead
    // (no red zone), and the call-like alignment is what a function entry expects.
    // (The hook itself runs there now, so nothing is written there until the iretq.)
    frame.rsp = ((frame.rsp - 128) & ~std::uint64_t(15)) - 8;
    frame.rbp = 0;  // frame-pointer backtraces from the unwinder end here
    frame.rip = reinterpret_cast<std::uint64_t>(&delos_fault_unwind_entry);
    return true;
}

FaultContainmentStatistics fault_containment_statistics() { return {g_contained, g_refused}; }

void set_fault_recovery_decider(FaultRecoveryDecider decider) { g_decider = decider; }

void set_fault_console_reports(bool enabled) { g_console_reports = enabled; }
bool fault_console_reports() { return g_console_reports; }

} // namespace delos::task
