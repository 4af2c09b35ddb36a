// fault_containment.cpp: the exception hook that decides whether a fault can be contained, the
// fault report, and the task-context half that unwinds the task and ends it Faulted.
#include "recovery/fault_containment.h"

#include <new>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/stack_limit.h"
#include "arch/x86_64/tsc.h"
#include "debug/backtrace.h"
#include "debug/kernel_symbols.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"
#include "runtime/frame_tables.h"
#include "runtime/unwinder.h"
#include "sync/spin_lock.h"
#include "sync/stop_machine.h"
#include "recovery/fault_log.h"
#include "task/scheduler.h"
#include "task/task.h"
#include "task/task_entry.h"
#include "task/watchdog.h"
#include "runtime/cell_call_gate.h"

extern "C" void delos_spin_lock_stuck_trap(const void* lock);  // sync/spin_lock.cpp
extern "C" void __morestack();                                 // arch/x86_64/stack_limit.cpp

namespace delos::task {

namespace {

using unwind::RegisterSet;

constexpr std::uint64_t kDivideError = 0, kBreakpoint = 3, kOverflow = 4, kBoundRange = 5, kInvalidOpcode = 6, kDoubleFault = 8,
                        kStackFault = 12, kGeneralProtection = 13, kPageFault = 14, kX87Error = 16,
                        kAlignmentCheck = 17, kSimdError = 19;

// Counted with atomics and the report built under a lock, not on the strength of "interrupts are
// off": with several CPUs two faults can be contained at once (docs/live-evolution.md, "Limits").
std::uint64_t g_contained = 0;
std::uint64_t g_refused = 0;
SpinLock g_report_lock;  // the one static FaultLogEntry below, and the decider's view of it
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

// #BP and #OF are traps: rip is already past the instruction, like a return address. A stack
// overflow is unwound from the caller of the function whose prologue found no room: at its call.
unwinding::FirstFrame first_frame_kind(std::uint64_t vector)
{
    return (vector == kBreakpoint || vector == kOverflow || vector == kStackOverflowVector || vector == kDeadlockVector
            || vector == kSpinLockStuckVector)
               ? unwinding::FirstFrame::ReturnAddress
               : unwinding::FirstFrame::FaultingInstruction;
}

const char* fault_name(std::uint64_t vector)
{
    if (vector == kWatchdogVector)
        return "WATCHDOG task over its run-time budget";
    if (vector == kStackOverflowVector)
        return "STACK OVERFLOW stack limit reached";
    if (vector == kDeadlockVector)
        return "DEADLOCK task unwound from a lock wait";
    if (vector == kSpinLockStuckVector)
        return "SPIN LOCK STUCK taken for good while this CPU spun on it, interrupts masked";
    return arch::exception_name(vector);
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

FaultRegisters registers_of_frame(const arch::InterruptFrame& frame)
{
    return {frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.rsp, frame.r8,
            frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15, frame.rip, frame.rflags};
}

// What is being contained: a CPU exception as it came, a stack overflow (the #UD of
// __morestack, unwound from the function's caller) or a watchdog expiry (at the interrupted
// instruction). `quiet`: a watchdog tick that cannot unwind here says nothing and tries later.
struct Attempt {
    std::uint64_t vector;
    RegisterSet registers;
    std::uint64_t instruction_pointer;  // what the report names
    bool quiet = false;
    std::uint64_t fault_address = 0;    // a deadlock's: the lock's address
    bool off_stack = false;             // rsp is not (usably) the task's: nothing unwinds, the task just ends
    // Off the stack at no code: the function the task's open gate call called (a cell's), which
    // the fault is blamed on (contain_jump_off_the_stack); 0 otherwise.
    std::uint64_t open_cell_call = 0;
    bool left_ring_zero = false;        // the task's code left ring 0 (a corrupted iret): its code, whatever rip says
};

// Says why a fault in task context stays fatal; the fatal report follows.
bool refuse(const Task* task, const char* why, std::uint64_t ip = 0, const char* detail = nullptr, bool quiet = false)
{
    if (quiet)
        return false;
    __atomic_add_fetch(&g_refused, 1, __ATOMIC_RELAXED);
    if (detail)
        kprint("delos: fault in task {} ({}) not contained: {} at {:#x}: {}\n", task->id(), task->name(), why, ip, detail);
    else
        kprint("delos: fault in task {} ({}) not contained: {}\n", task->id(), task->name(), why);
    return false;
}

constexpr std::size_t kReportFrames = 32;

bool in_cell_code(std::uint64_t ip);

// An address that is no code at all, reached while the task is inside a call through the cell
// call gate: the called cell's wild jump or return (the gate's open slot names it), not the
// kernel's doing; the kernel's own code never runs at such an address.
bool lost_inside_a_gate_call(std::uint64_t ip)
{
    if (runtime::innermost_open_cell_call() == 0 || in_cell_code(ip))
        return false;
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    return !kernel_symbols::symbolize(ip, symbol, owner);
}

// Whether `ip` is in a loaded cell's code (not the kernel's): what the rules below allow a cell's
// code, that the kernel's never gets (masked interrupts, abandoned cleanups, no unwind at all).
bool in_cell_code(std::uint64_t ip)
{
    // A load, reload or unload was interrupted midway (its task waits or was preempted holding
    // the manager's lock): its records may be half-changed, so the registry of unwind tables
    // answers instead; it changes only under its own spin lock, and it is what the walk trusts.
    if (!kernel_symbols::external_symbolizer_quiescent())
        return unwinding::is_registered_cell_code(ip);
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    return kernel_symbols::symbolize(ip, symbol, owner) && !owner.name.empty() && owner.name != "kernel";
}

// A frame whose landing pad faulted or lost its way may have its remaining cleanups abandoned if
// it is a cell's: the kernel's frames keep the old rule (a fault while unwinding them is fatal).
bool may_abandon_frame(std::uint64_t frame_ip) { return in_cell_code(frame_ip); }

void print_report(const Task& task, const arch::InterruptFrame& frame, const Attempt& attempt,
                  std::uint64_t fault_address, std::size_t frames, const std::uint64_t* ips)
{
    char location[256];
    FixedBufferSink sink(location, sizeof location);
    describe_code_address(sink, attempt.instruction_pointer, attempt.instruction_pointer);
    kprint("delos: FAULT #{} in task {} ({}, cell {}): {} (vector {}) error {:#x} at rip {:#018x} <{}>\n",
           task.m_fault.sequence, task.id(), task.name(), task.cell(), fault_name(attempt.vector), attempt.vector,
           frame.error_code, attempt.instruction_pointer, sink.view());
    if (attempt.vector == kStackOverflowVector)
        kprint("  stack overflow: a prologue found its frame below the task's stack limit {:#x} (stack {:#x}..{:#x})\n",
               stack_limit_for(task.m_stack), task.m_stack.bottom(), task.m_stack.top());
    if (attempt.vector == kDeadlockVector)
        kprint("  deadlock: {} for the lock at {:#x}, asked for at the rip above\n",
               frame.error_code == static_cast<std::uint64_t>(LockWaitEnd::Cycle)
                   ? "its wait closed a cycle of tasks waiting for each other's locks"
                   : "waited past the lock-wait budget",
               attempt.fault_address);
    if (attempt.vector == kWatchdogVector)
        kprint("  watchdog: ran {} ms without waiting, interrupted at the rip above\n",
               (task.m_run_ticks_since_wait + (cpu::read_tsc() - task.m_slice_start_tsc)) /
                   (tsc::ticks_per_second() / 1000 ? tsc::ticks_per_second() / 1000 : 1));
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

// A cell's fault with rsp this far below the task's stack limit (the split-stack prologues' check,
// stack_limit_for: 8 KiB above the end, the reserve the containment path runs in) is not walked
// (see contain_fault): no compiled frame gets there, only a leaf's few hundred bytes.
constexpr std::uint64_t kBelowLimitSlack = 512;

std::uint64_t lowest_walkable_rsp(const Task& task) { return stack_limit_for(task.m_stack) - kBelowLimitSlack; }

// A split-stack prologue's call of __morestack sits at its function's end: this far from the
// function's start at most (the longest guest function is a few KiB).
constexpr std::uint64_t kLongestPrologueReach = 64 * 1024;

// How far up the stack a resynchronised unwind looks for a return address (see resynchronise).
constexpr std::uint64_t kResynchroniseScanBytes = 2048;

// When the unwind cannot start at the faulting instruction — a wild jump left rip outside every
// function, a corrupted instruction trapped where the compiler expected no fault (no call-site
// entry), or a corrupted return address broke the chain — look up the stack for the innermost
// word that is a return address (code with an FDE) from which the rest of the stack unwinds
// cleanly to the entry trampoline, and unwind from there. The frames skipped run no destructors;
// what they held is then not released, which the per-task accounting and the fault campaign's
// leak check see. The registers other than rsp and rip are the faulting ones. `start` gets rip
// as the address inside the call instruction (so the call site and the CFI row are the call's,
// whichever first-frame kind the vector implies).
// `skipped_cell_ip` gets the innermost skipped return address into a cell's code (0 if none): the
// fault happened in that cell, the frames resumed from may all be its callers' (a call gate's, a
// worker's), and the report and recovery's blame must still name it.
bool resynchronise(const RegisterSet& faulting, std::uint64_t stack_low, std::uint64_t stack_high, RegisterSet& start,
                   std::size_t& frames, std::uint64_t* ips, std::size_t capacity, std::uint64_t& skipped_bytes,
                   std::uint64_t& skipped_cell_ip)
{
    skipped_cell_ip = 0;
    std::uint64_t rsp = faulting.values[unwind::kRsp] & ~std::uint64_t(7);
    if (rsp < stack_low || rsp >= stack_high)
        return false;
    for (std::uint64_t slot = rsp; slot + 8 <= stack_high && slot < rsp + kResynchroniseScanBytes; slot += 8) {
        std::uint64_t candidate = *reinterpret_cast<const std::uint64_t*>(slot);
        if (candidate < 2 || unwinding::find_frame(candidate - 1).is_error())
            continue;
        // With the faulting registers (a call into garbage: nothing of the callee ran), then with
        // rbp from the word below (the skipped frame pushed its caller's rbp first).
        bool found = false;
        RegisterSet registers;
        std::size_t checked_frames = 0;
        for (int attempt = 0; attempt < 2 && !found; ++attempt) {
            registers = faulting;
            registers.set(unwind::kReturnAddress, candidate);
            registers.set(unwind::kRsp, slot + 8);
            if (attempt == 1) {
                if (slot < rsp + 8)
                    break;
                registers.set(unwind::kRbp, *reinterpret_cast<const std::uint64_t*>(slot - 8));
            }
            std::uint64_t failing_ip = 0;
            auto checked = unwinding::check_unwindable(registers, unwinding::FirstFrame::ReturnAddress, stack_low, stack_high,
                                                       failing_ip, ips, capacity);
            // A resumption at the entry trampoline alone would skip every frame the task has.
            if (!checked.is_error() && checked.value() >= 2) {
                found = true;
                checked_frames = checked.value();
            }
        }
        if (!found) {
            if (skipped_cell_ip == 0 && in_cell_code(candidate - 1))
                skipped_cell_ip = candidate;
            continue;
        }
        // Resumed at the cell call gate with no cell frame skipped: the fault is its callee's
        // (a jump into garbage leaves no return address of the cell); the task's open
        // save-area slot names the function the gate called.
        if (skipped_cell_ip == 0 && runtime::returns_into_cell_call_gate(candidate)) {
            std::uint64_t callee = runtime::innermost_open_cell_call();
            if (in_cell_code(callee))
                skipped_cell_ip = callee;
        }
        registers.set(unwind::kReturnAddress, candidate - 1);
        start = registers;
        frames = checked_frames;
        skipped_bytes = slot - rsp;
        return true;
    }
    return false;
}

// The target of the call instruction that ends at `return_address`: `call *disp32(%rip)` (a cell's
// call through its GOT) or `call rel32`; 0 if it is neither or its slot is not mapped. The return
// address is code with an FDE (resynchronise found it); the six bytes before it may start on the
// page before, which is checked like the slot.
std::uint64_t call_target_before(std::uint64_t return_address)
{
    if (return_address < memory::kPageSize + 6 || memory::kernel_page_table().access_of(return_address - 6) == memory::Access::None)
        return 0;
    const auto* code = reinterpret_cast<const std::uint8_t*>(return_address);
    auto displacement = [code] {
        std::uint32_t value = std::uint32_t(code[-4]) | std::uint32_t(code[-3]) << 8 | std::uint32_t(code[-2]) << 16
                              | std::uint32_t(code[-1]) << 24;
        return static_cast<std::int64_t>(static_cast<std::int32_t>(value));
    };
    if (code[-6] == 0xff && code[-5] == 0x15) {
        std::uint64_t slot = return_address + static_cast<std::uint64_t>(displacement());
        if (slot % 8 != 0 || memory::kernel_page_table().access_of(slot) == memory::Access::None)
            return 0;
        return *reinterpret_cast<const std::uint64_t*>(slot);
    }
    if (code[-5] == 0xe8)
        return return_address + static_cast<std::uint64_t>(displacement());
    return 0;
}

// The end of the walk: the task's entry trampoline. Runs on the unwound task's stack.
void finish_unwind(unwinding::ForcedUnwind& unwind)
{
    auto* task = static_cast<Task*>(unwind.owner);
    task->m_fault.frames = unwind.frames;
    task->m_fault.landing_pads = unwind.landing_pads;
    task->m_forced_unwind = nullptr;
    {
        scheduler::ChargeToKernel kernel_memory;
        delete &unwind;
    }
    task->m_unwinding = false;
    task->m_end = TaskEnd::Faulted;
    release_and_exit(task);
}

// A fault with interrupts masked by a cell's code and no spin lock held: the unwind runs with
// interrupts on, as the task had them when it entered the cell (tasks start with them on, and a
// lock the cell's frames took would be counted).
void unmask_if_the_cell_masked(Task* task)
{
    if (!task->m_fault_unmask)
        return;
    task->m_fault_unmask = false;
    cpu::enable_interrupts();
}

} // namespace

// Entered from the exception hook's modified frame (iretq), on the faulting task's stack below
// the faulting frame, with interrupts as the task had them.
extern "C" [[noreturn]] void delos_fault_unwind_entry()
{
    Task* task = scheduler::current_task();
    unmask_if_the_cell_masked(task);
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
    unwind->may_abandon = may_abandon_frame;
    task->m_forced_unwind = unwind;
    RegisterSet registers;
    for (std::uint32_t r = 0; r < unwind::kRegisterCount; ++r)
        registers.set(r, task->m_fault_registers[r]);
    // A wild call's fault unwinds from the caller's return address (see contain_fault).
    bool from_return_address = task->m_fault_registers[unwind::kReturnAddress] != task->m_fault.instruction_pointer;
    unwinding::run_forced_unwind(*unwind, registers,
                                 from_return_address ? unwinding::FirstFrame::ReturnAddress : first_frame_kind(task->m_fault.vector));
}

// A fault in a landing pad's cleanup (a destructor on a corrupted pointer): the rest of that
// frame's cleanups are abandoned and the unwind goes on at its caller.
extern "C" [[noreturn]] void delos_fault_abandon_entry()
{
    Task* task = scheduler::current_task();
    unmask_if_the_cell_masked(task);
    unwinding::abandon_landing_pad(*static_cast<unwinding::ForcedUnwind*>(task->m_forced_unwind), "a fault in a cleanup, or one past the watchdog budget");
}

// A fault whose stack cannot be unwound at all (no return address above it leads to the entry
// trampoline cleanly): the task ends Faulted without running any cleanup.
extern "C" [[noreturn]] void delos_fault_end_entry()
{
    Task* task = scheduler::current_task();
    unmask_if_the_cell_masked(task);
    task->m_fault.frames = 0;
    task->m_fault.landing_pads = 0;
    task->m_unwinding = false;
    task->m_end = TaskEnd::Faulted;
    release_and_exit(task);
}

namespace {

std::uint64_t g_abandoned = 0;  // landing pads abandoned after a fault in them
std::uint64_t g_masked = 0;     // contained with interrupts masked by a cell
std::uint64_t g_ended_without_unwind = 0;

// Resume the faulting task at `entry`, below the faulting frame; what lies below the faulting rsp
// is dead (no red zone), and the call-like alignment is what a function entry expects. Of the
// task's flags only IF is kept: the unwinder and the cleanups are compiled code that assumes the
// ABI's clear direction flag, and a cell that ran a garbage popf may have left DF, AC, NT, TF or
// IOPL set (the unwinder's copies ran backwards over the heap below their destinations).
void resume_at(arch::InterruptFrame& frame, void (*entry)())
{
    constexpr std::uint64_t kInterruptFlag = 1u << 9, kAlwaysOne = 1u << 1;
    frame.rflags = (frame.rflags & kInterruptFlag) | kAlwaysOne;
    frame.rsp = ((frame.rsp - 128) & ~std::uint64_t(15)) - 8;
    frame.rbp = 0;  // frame-pointer backtraces from the entry end here
    frame.rip = reinterpret_cast<std::uint64_t>(entry);
}

// The task faulted again while its unwind ran a landing pad, or the watchdog found it over its
// budget there (a cleanup looping on a value the first fault corrupted, e.g. a Vector's size read
// through a callee-saved register the faulting callee never restored: it never ends by itself).
// Either way that landing pad is abandoned and the unwind goes on at its frame's caller.
bool contain_fault_while_unwinding(arch::InterruptFrame& frame, Task* task, const Attempt& attempt, bool unmask)
{
    auto* unwind = static_cast<unwinding::ForcedUnwind*>(task->m_forced_unwind);
    if (!unwind || !unwinding::can_abandon_landing_pad(*unwind)) {
        if (attempt.quiet)
            return false;  // a watchdog tick in the unwinder's own work: the unwind ends by itself
        return refuse(task, "a fault while unwinding (not in a landing pad of a cell's frame)");
    }
    std::uint64_t rsp = attempt.registers.values[unwind::kRsp];
    if (rsp < task->m_stack.bottom() + 1024 || rsp >= task->m_stack.top())
        return refuse(task, "a fault while unwinding, the stack pointer outside the task's stack", 0, nullptr, attempt.quiet);
    __atomic_add_fetch(&g_abandoned, 1, __ATOMIC_RELAXED);
    char location[256];
    FixedBufferSink sink(location, sizeof location);
    describe_code_address(sink, attempt.instruction_pointer, attempt.instruction_pointer);
    kprint("delos: fault in task {} ({}) while unwinding: {} (vector {}) at rip {:#018x} <{}>{}; abandoning the landing pad "
           "of the frame at {:#x}\n",
           task->id(), task->name(), fault_name(attempt.vector), attempt.vector, attempt.instruction_pointer, sink.view(),
           unmask ? " with interrupts masked by the cell" : "", unwind->pad_frame_ip);
    task->m_fault_unmask = task->m_fault_unmask || unmask;
    resume_at(frame, delos_fault_abandon_entry);
    return true;
}

bool contain(arch::InterruptFrame& frame, Task* task, const Attempt& attempt)
{
    bool quiet = attempt.quiet;
    if (!task->m_stack.valid() || scheduler::is_idle_task(task))
        return refuse(task, "the boot and idle tasks are the kernel's own", 0, nullptr, quiet);
    // A timer tick only arrives in unmasked code (native mode defers it under the soft mask, and
    // the exception-only soft-mask flag says nothing about it): its frame's IF is the answer.
    bool masked = attempt.vector == kWatchdogVector || attempt.vector == kDeadlockVector ? (frame.rflags & (1u << 9)) == 0
                                                    : arch::exception_interrupted_masked_code(frame);
    // Masked interrupts are containable only where they are the cell's own doing: no spin lock
    // held on this CPU (inlined SpinLock code in a cell masks first and can fault on a corrupted
    // lock address before it holds anything), the faulting instruction in a cell's code (the
    // kernel's masked sections are interrupt handlers and critical sections), not inside an
    // operation run alone, and (below) a stack that unwinds cleanly to the task's entry, which no
    // interrupt or exception frame does (their entry stubs have no unwind tables).
    bool unmask = false;
    if (masked) {
        if (quiet || attempt.vector == kWatchdogVector || attempt.vector == kDeadlockVector)
            return refuse(task, "interrupts were masked", 0, nullptr, quiet);
        if (spin_locks_held_on_this_cpu() != 0)
            return refuse(task, "interrupts were masked with a spin lock held");
        if (stop_machine::running_alone())
            return refuse(task, "interrupts were masked in an operation run alone");
        if (!attempt.left_ring_zero && !in_cell_code(attempt.instruction_pointer))
            return refuse(task, "interrupts were masked in the kernel's code (interrupt context or a critical section)");
        unmask = true;
    }
    if (task->m_unwinding)
        return contain_fault_while_unwinding(frame, task, attempt, unmask);
    std::uint64_t stack_low = task->m_stack.bottom(), stack_high = task->m_stack.top();
    std::uint64_t rsp = attempt.registers.values[unwind::kRsp];
    if (attempt.off_stack) {
        // The exception could not be delivered on the task's stack (a double fault): the task
        // is resumed on its own stack, from the top, only to end.
        if (!attempt.left_ring_zero && attempt.open_cell_call == 0 && !in_cell_code(attempt.instruction_pointer))
            return refuse(task, "a double fault outside a cell's code");
        if (!attempt.left_ring_zero)  // that report said what happened
            kprint("delos: fault in task {} ({}) with its stack pointer {:#x} off its stack {:#x}..{:#x} or below {:#x} (its limit, less a leaf's frame)\n",
               task->id(), task->name(), attempt.registers.values[unwind::kRsp], stack_low, stack_high, lowest_walkable_rsp(*task));
        rsp = stack_high - 512;
    }
    if (rsp < stack_low + 1024 || rsp >= stack_high)
        return refuse(task, "the stack pointer is outside the task's stack or too close to its end", 0, nullptr, quiet);
    RegisterSet registers = attempt.registers;
    std::uint64_t failing_ip = 0;
    std::uint64_t ips[kReportFrames];
    auto checked = attempt.off_stack ? ErrorOr<std::size_t>(Error::make(ErrorCode::Unsupported, "the stack pointer is off the task's stack", attempt.registers.values[unwind::kRsp]))
                                     : unwinding::check_unwindable(registers, first_frame_kind(attempt.vector), stack_low,
                                                                   stack_high, failing_ip, ips, kReportFrames);
    if (attempt.off_stack)
        failing_ip = attempt.instruction_pointer;
    if (checked.is_error() && !attempt.off_stack && attempt.vector == kPageFault && (frame.error_code & 0x10) && failing_ip == frame.rip) {
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
            checked = from_caller.value() + 1;
        }
    }
    std::size_t frame_count = checked.is_error() ? 0 : checked.value();
    std::uint64_t skipped_bytes = 0;
    std::uint64_t skipped_call_target = 0;
    bool end_without_unwind = false;
    if (checked.is_error()) {
        // The watchdog (quiet) only unwinds a task whose stack unwinds from where it stopped; a
        // masked fault only from a clean stack (see above); a fault resumes the unwind at the
        // innermost return address that unwinds cleanly.
        RegisterSet start;
        std::size_t resumed_frames = 0;
        // A cell that masked interrupts inside a call through the gate (task context: the gate's
        // slot is open) and left no unwindable stack: the task ends without its cleanups, as an
        // unmasked one may; a resynchronised unwind is kept for clean stacks only, as before.
        bool masked_in_a_gate_call = unmask && !quiet && runtime::innermost_open_cell_call() != 0
                                     && in_cell_code(attempt.instruction_pointer);
        if ((quiet || unmask) && !attempt.left_ring_zero && !masked_in_a_gate_call)
            return refuse(task, "its stack cannot be unwound", failing_ip, checked.error().message, quiet);
        std::uint64_t skipped_cell_ip = 0;
        if (!attempt.off_stack && !masked_in_a_gate_call && resynchronise(registers, stack_low, stack_high, start, resumed_frames, ips, kReportFrames, skipped_bytes, skipped_cell_ip)) {
            kprint("delos: fault in task {} ({}): the unwind cannot start at {:#x} ({}); resuming it at a return address {} bytes up the stack\n",
                   task->id(), task->name(), failing_ip, checked.error().message, skipped_bytes);
            registers = start;
            frame_count = resumed_frames;
            if (skipped_cell_ip != 0 && frame_count < kReportFrames) {
                // Reported (and blamed) first: the skipped cell frame the fault came from.
                for (std::size_t i = frame_count; i > 0; --i)
                    ips[i] = ips[i - 1];
                ips[0] = skipped_cell_ip;
                ++frame_count;
            }
            skipped_call_target = call_target_before(start.values[unwind::kReturnAddress] + 1);
            // Resumed after a call into the cell call gate, which never returned: the call it
            // made (still open in the task's save area) is the one the skipped frames ran.
            if (skipped_call_target == reinterpret_cast<std::uint64_t>(&delos_cell_call_gate))
                skipped_call_target = runtime::innermost_open_cell_call();
        } else if (attempt.left_ring_zero || masked_in_a_gate_call || in_cell_code(attempt.instruction_pointer)
                   || lost_inside_a_gate_call(attempt.instruction_pointer) || attempt.open_cell_call != 0) {
            // Nothing above the fault unwinds: the cell's corrupted code or stack left no path.
            // The task ends here, its cleanups not run; what they held the accounting shows.
            kprint("delos: fault in task {} ({}): its stack cannot be unwound at {:#x} ({}); the task ends without its cleanups\n",
                   task->id(), task->name(), failing_ip, checked.error().message);
            __atomic_add_fetch(&g_ended_without_unwind, 1, __ATOMIC_RELAXED);
            end_without_unwind = true;
        } else {
            return refuse(task, "its stack cannot be unwound", failing_ip, checked.error().message);
        }
    }

    // Ending without an unwind releases no lock: a task::Mutex the task holds (its guard's frame
    // is not unwound) would stay held for good, its waiters with it, and releasing it blindly
    // would show them data the fault may have left half-changed. The two rules for a stack
    // pointer off the task's stack (a call or a jump there) stop the guest then; the older ways
    // of ending without an unwind end the task as before (its waiters meet the deadlock rules).
    bool off_stack_rule = attempt.off_stack && (attempt.open_cell_call != 0 || attempt.vector == kStackOverflowVector);
    if (off_stack_rule && task->m_mutexes_held != 0)
        return refuse(task, "the task would end without an unwind while it holds a task::Mutex");
    if (attempt.off_stack && attempt.open_cell_call != 0)
        skipped_call_target = attempt.open_cell_call;

    std::uint64_t fault_address = frame.vector == kPageFault && attempt.vector == kPageFault ? cpu::read_cr2()
                                                                                              : attempt.fault_address;
    std::uint64_t error_code = attempt.vector < 32 || attempt.vector == kDeadlockVector ? frame.error_code : 0;
    std::uint64_t sequence = __atomic_add_fetch(&g_contained, 1, __ATOMIC_RELAXED);
    task->m_fault = {attempt.vector, error_code, attempt.instruction_pointer, fault_address, sequence, 0, 0};
    task->m_unwinding = true;
    task->m_fault_unmask = unmask;
    if (unmask)
        __atomic_add_fetch(&g_masked, 1, __ATOMIC_RELAXED);
    for (std::uint32_t r = 0; r < unwind::kRegisterCount; ++r)
        task->m_fault_registers[r] = registers.values[r];
    if (g_console_reports)
        print_report(*task, frame, attempt, fault_address, frame_count, ips);
    // Static, not on the faulting stack (an entry is ~1.9 KiB): hooks do not nest on one CPU (a
    // fault while containing one is not contained, and the watchdog runs with interrupts off),
    // and the lock keeps hooks on other CPUs out of it until it is recorded.
    SpinLockGuard reporting(g_report_lock);
    static FaultLogEntry entry;
    entry = {};
    entry.sequence = task->m_fault.sequence;
    entry.vector = attempt.vector;
    entry.error_code = error_code;
    entry.instruction_pointer = attempt.instruction_pointer;
    entry.fault_address = fault_address;
    entry.task = task->id();
    entry.cell = task->cell();
    for (std::size_t i = 0; i + 1 < kTaskNameLength && task->name()[i]; ++i)
        entry.task_name[i] = task->name()[i];
    FixedBufferSink location(entry.location, sizeof entry.location - 1);  // the last byte stays NUL
    describe_code_address(location, attempt.instruction_pointer, attempt.instruction_pointer);
    describe_fault_code(entry.at, attempt.instruction_pointer, attempt.instruction_pointer);
    for (std::size_t i = 0; i < frame_count && i < kFaultLogFrames; ++i)
        describe_fault_code(entry.backtrace[entry.backtrace_frames++], ips[i], i == 0 ? ips[i] : ips[i] - 1);
    entry.registers = registers_of_frame(frame);
    describe_fault_place(entry.place, attempt.instruction_pointer);
    entry.skipped_call_target = skipped_call_target;
    entry.open_gate_call = runtime::innermost_open_cell_call();  // the faulting task's: it runs here
    if (g_console_reports && entry.place.section[0])
        kprint("  fault #{} of boot {}: build {}, section {}+{:#x}\n", entry.sequence, boot_id(), entry.place.build_id,
               entry.place.section, entry.place.section_offset);
    if (g_decider)
        g_decider(*task, entry);
    record_fault(entry);

    // Resume in the unwinder (or the end) below the faulting frame. (The hook itself runs there
    // now, so nothing is written there until the iretq.)
    // Ending without an unwind, the task's frames are dead: it ends from the top of its stack
    // (the faulting rsp may be at its limit, where even the end's prologue finds no room).
    if (attempt.off_stack || end_without_unwind)
        frame.rsp = stack_high - 512;  // after the report above, which showed the stack pointer that failed
    resume_at(frame, end_without_unwind ? delos_fault_end_entry : delos_fault_unwind_entry);
    return true;
}

// Reads the two words a split-stack trap left at `rsp` (see contain_call_off_the_stack), once:
// off the task's stack they are memory that other CPUs may be writing; false if not mapped.
bool read_trap_words(std::uint64_t rsp, std::uint64_t (&words)[2])
{
    if (rsp % 8 != 0 || rsp < memory::kPageSize || rsp + 16 < rsp)
        return false;
    auto& table = memory::kernel_page_table();
    if (table.access_of(rsp) == memory::Access::None || table.access_of(rsp + 8) == memory::Access::None)
        return false;
    words[0] = __atomic_load_n(reinterpret_cast<const std::uint64_t*>(rsp), __ATOMIC_RELAXED);
    words[1] = __atomic_load_n(reinterpret_cast<const std::uint64_t*>(rsp + 8), __ATOMIC_RELAXED);
    return true;
}

// A split-stack prologue found the stack pointer off the task's stack (docs/unwinding.md, "Faults
// with the stack pointer off the task's stack"): the function was entered with rsp already there
// and nothing of it ran. [rsp] returns into that prologue's call of __morestack, [rsp+8] is the
// function's return address. Contained only when that return address is in a cell's code: then
// the cell's code moved rsp (what the task wrote through it is the cell's doing) and the call has
// not started; the task ends without an unwind, from the top of its own stack. A kernel caller
// (the kernel's own code ran on a stack it does not own, maybe midway through its own state), a
// pair of words that is not what a prologue's trap leaves (another CPU may be writing there), or
// masked interrupts (contain's rule) stay fatal.
bool contain_call_off_the_stack(arch::InterruptFrame& frame, Task* task)
{
    kprint("delos: stack overflow in task {} ({}) with its stack pointer {:#x} off its stack {:#x}..{:#x}\n", task->id(),
           task->name(), frame.rsp, task->m_stack.bottom(), task->m_stack.top());
    std::uint64_t words[2];
    if (!read_trap_words(frame.rsp, words))
        return refuse(task, "a stack overflow off the task's stack, its return addresses unreadable");
    if (call_target_before(words[0]) != reinterpret_cast<std::uint64_t>(&__morestack))
        return refuse(task, "a stack overflow off the task's stack, not left by a prologue's check", words[0]);
    std::uint64_t call_site = words[1] - 1;
    if (words[1] < 2 || !in_cell_code(call_site))
        return refuse(task, "a stack overflow off the task's stack, in a function the kernel's code called", words[1]);
    // A direct or GOT call names its target: it must be the function whose prologue trapped.
    std::uint64_t callee = call_target_before(words[1]);
    if (callee != 0 && (callee > words[0] || words[0] - callee > kLongestPrologueReach))
        return refuse(task, "a stack overflow off the task's stack, its return addresses do not match", words[1]);
    Attempt attempt{kStackOverflowVector, registers_of(frame), call_site};
    attempt.off_stack = true;
    return contain(frame, task, attempt);
}

// An instruction fetch where no code is, with rsp off the task's stack (the campaign: a cell's
// corrupted `ret $imm16` returned to a zero word and moved rsp 19 KiB above its stack): what jumped
// there left no trace we can trust (the exception frame overwrote the words below rsp). Contained
// only inside an open gate call into a cell, with no lock held (no spin lock on this CPU, no
// task::Mutex: contain checks) and interrupts on (contain's masked rule): whatever ran since the
// cell was called — the cell's code, or kernel code it called on that stack — then holds nothing
// that ending the task would leave taken, and the fault is blamed on the called cell.
bool contain_jump_off_the_stack(arch::InterruptFrame& frame, Task* task)
{
    std::uint64_t callee = runtime::innermost_open_cell_call();
    if (callee == 0 || !in_cell_code(callee))
        return refuse(task, "a jump to no code with the stack pointer off the task's stack, outside a call into a cell", frame.rip);
    if (spin_locks_held_on_this_cpu() != 0)
        return refuse(task, "a jump to no code with the stack pointer off the task's stack, a spin lock held", frame.rip);
    Attempt attempt{frame.vector, registers_of(frame), frame.rip};
    attempt.off_stack = true;
    attempt.open_cell_call = callee;
    return contain(frame, task, attempt);
}

} // namespace

bool contain_fault(arch::InterruptFrame& frame)
{
    if ((!containable_vector(frame.vector) && frame.vector != kDoubleFault) || !scheduler::started())
        return false;
    Task* task = scheduler::current_task();
    if (!task)
        return false;
    if (frame.vector == kInvalidOpcode && frame.rip == reinterpret_cast<std::uint64_t>(delos_stack_overflow_trap)) {
        // __morestack: [rsp] is the return address into the prologue that found no room,
        // [rsp+8] that function's own return address. Nothing of it has run: unwind from its call.
        if (frame.rsp < task->m_stack.bottom() || frame.rsp + 16 > task->m_stack.top())
            return contain_call_off_the_stack(frame, task);
        const auto* stack = reinterpret_cast<const std::uint64_t*>(frame.rsp);
        Attempt attempt{kStackOverflowVector, registers_of(frame), stack[0]};
        attempt.registers.set(unwind::kRsp, frame.rsp + 16);
        attempt.registers.set(unwind::kReturnAddress, stack[1]);
        if (contain(frame, task, attempt))
            return true;
        char location[256];
        FixedBufferSink sink(location, sizeof location);
        describe_code_address(sink, stack[0], stack[0]);
        kprint("delos: the refused fault above is a stack overflow: the prologue of {} found no room\n", sink.view());
        return false;
    }
    if (frame.vector == kInvalidOpcode && frame.rip == reinterpret_cast<std::uint64_t>(&delos_spin_lock_stuck_trap)) {
        // [rsp] returns into delos_spin_lock_waited, whose caller is the lock() that spins: the
        // unwind starts at that return (nothing of the trap ran), the report names the caller.
        if (frame.rsp < task->m_stack.bottom() || frame.rsp + 8 > task->m_stack.top())
            return refuse(task, "a stuck spin lock, the stack pointer off the task's stack");
        const auto* stack = reinterpret_cast<const std::uint64_t*>(frame.rsp);
        Attempt attempt{kSpinLockStuckVector, registers_of(frame), stack[0]};
        attempt.registers.set(unwind::kRsp, frame.rsp + 8);
        attempt.registers.set(unwind::kReturnAddress, stack[0]);
        attempt.fault_address = frame.rdi;
        std::uint64_t ips[2] = {};
        std::uint64_t failing_ip = 0;
        auto walk = unwinding::check_unwindable(attempt.registers, unwinding::FirstFrame::ReturnAddress, task->m_stack.bottom(),
                                                task->m_stack.top(), failing_ip, ips, 2);
        if (!walk.is_error() && walk.value() >= 2)
            attempt.instruction_pointer = ips[1] - 1;
        if (contain(frame, task, attempt))
            return true;
        kprint("delos: the refused fault above is a spin lock at {:#x} that stayed taken while this CPU spun on it with "
               "interrupts masked (asked for at {:#x})\n", frame.rdi, attempt.instruction_pointer);
        return false;
    }
    if (task->m_stack.valid() && !task->m_unwinding && in_cell_code(frame.rip)
        && (frame.rsp < lowest_walkable_rsp(*task) || frame.rsp >= task->m_stack.top())) {
        // A cell's code moved rsp off its stack or into the overflow reserve without a
        // prologue's check (corrupted code): walking its tables from here overflows the stack
        // under this very hook (the walk's frames take ~6.5 KiB: a double fault in the CFI
        // interpreter, seen in the campaign). The task ends without its cleanups, as for a #DF.
        Attempt attempt{frame.vector, registers_of(frame), frame.rip};
        attempt.off_stack = true;
        return contain(frame, task, attempt);
    }
    if (arch::frame_left_ring_zero(frame)) {
        // The task's corrupted code left ring 0 through an iret; the exception came in on the
        // TSS's rsp0 stack. Nothing of its registers or stack pointer is the task's any more: it
        // ends from the top of its own stack, as for a #DF, back in ring 0. Only a task in a cell
        // or inside a call through the cell call gate: the kernel's own code never irets there.
        if (task->cell() == task::kKernelCell && runtime::innermost_open_cell_call() == 0)
            return false;
        kprint("delos: task {} ({}) left ring 0 (cs {:#x}, rip {:#x}, rflags {:#x}): a corrupted iret\n", task->id(), task->name(),
               frame.cs, frame.rip, frame.rflags);
        frame.cs = arch::kKernelCodeSelector;
        frame.ss = arch::kKernelDataSelector;
        Attempt attempt{frame.vector, registers_of(frame), frame.rip};
        attempt.off_stack = true;
        attempt.left_ring_zero = true;
        return contain(frame, task, attempt);
    }
    if (task->m_stack.valid() && !task->m_unwinding && frame.vector == kPageFault && (frame.error_code & 0x10) != 0
        && (frame.rsp < lowest_walkable_rsp(*task) || frame.rsp >= task->m_stack.top()))
        return contain_jump_off_the_stack(frame, task);
    if (frame.vector == kDoubleFault) {
        // On the double-fault IST stack: a cell's code ran its stack pointer off the task's stack
        // (a corrupted rsp or frame size), so the page fault could not be delivered. Nothing of
        // the task's stack can be unwound; the task ends there, its cleanups not run.
        Attempt attempt{frame.vector, registers_of(frame), frame.rip};
        attempt.off_stack = true;
        attempt.fault_address = cpu::read_cr2();  // where the delivery of the first fault failed
        return contain(frame, task, attempt);
    }
    return contain(frame, task, Attempt{frame.vector, registers_of(frame), frame.rip});
}

bool contain_watchdog_expiry(arch::InterruptFrame& frame, Task& task)
{
    if (!scheduler::started() || scheduler::current_task() != &task)
        return false;
    // Only in a cell's own code: kernel code interrupted anywhere may be midway through state
    // that a sleeping lock guards for other tasks; a cell's loop is the cell's business.
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    if (!kernel_symbols::external_symbolizer_quiescent())
        return false;  // a load or unload was preempted midway: its records may be half-changed
    if (!kernel_symbols::symbolize(frame.rip, symbol, owner) || owner.name.empty() || owner.name == "kernel")
        return false;
    if ((frame.rflags & (1u << 9)) == 0)
        return false;  // a timer frame without IF: a replayed tick (native mode), never cell code
    Attempt attempt{kWatchdogVector, registers_of(frame), frame.rip};
    attempt.quiet = true;
    return contain(frame, &task, attempt);
}

// Stores the caller's callee-saved registers, its stack pointer after the return and the return
// address, in DWARF order (rbx 3, rbp 6, rsp 7, r12..r15 12..15, return address 16): an unwind
// starts there as from a call that is still in progress.
extern "C" void delos_capture_call_registers(std::uint64_t* registers);
asm(R"(
    .section .text.delos_capture_call_registers, "ax"
    .global delos_capture_call_registers
    .type delos_capture_call_registers, @function
delos_capture_call_registers:
    .cfi_startproc
    movq %rbx, 24(%rdi)
    movq %rbp, 48(%rdi)
    leaq 8(%rsp), %rax
    movq %rax, 56(%rdi)
    movq %r12, 96(%rdi)
    movq %r13, 104(%rdi)
    movq %r14, 112(%rdi)
    movq %r15, 120(%rdi)
    movq (%rsp), %rax
    movq %rax, 128(%rdi)
    ret
    .cfi_endproc
    .size delos_capture_call_registers, . - delos_capture_call_registers
    .text
)");

lock_waits::Refusal contain_lock_wait(Task& task, const lock_waits::Fault& fault)
{
    if (!scheduler::started() || scheduler::current_task() != &task)
        return lock_waits::Refusal::Permanent;
    // Only a wait a cell's code asked for: what the unwind crosses before the cell's frames is the
    // lock's own code, which holds nothing (the rule of lock_waits.h).
    if (!kernel_symbols::external_symbolizer_quiescent())
        return lock_waits::Refusal::Transient;  // a load or unload is midway: its records may be half-changed
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    if (fault.caller == 0 || !kernel_symbols::symbolize(fault.caller - 1, symbol, owner) || owner.name.empty()
        || owner.name == "kernel")
        return lock_waits::Refusal::Permanent;
    // As the hooks and the tick do: the report, the log entry and the decider run masked.
    cpu::disable_interrupts();
    std::uint64_t captured[unwind::kRegisterCount] = {};
    delos_capture_call_registers(captured);
    RegisterSet registers;
    for (std::uint32_t r : {unwind::kRbx, unwind::kRbp, unwind::kRsp, unwind::kR12, unwind::kR13, unwind::kR14,
                            unwind::kR15, unwind::kReturnAddress})
        registers.set(r, captured[r]);
    arch::InterruptFrame frame{};
    frame.rbx = captured[unwind::kRbx];
    frame.rbp = captured[unwind::kRbp];
    frame.rsp = captured[unwind::kRsp];
    frame.r12 = captured[unwind::kR12];
    frame.r13 = captured[unwind::kR13];
    frame.r14 = captured[unwind::kR14];
    frame.r15 = captured[unwind::kR15];
    frame.rip = captured[unwind::kReturnAddress];
    frame.rflags = 1u << 9;  // the lock was asked for with interrupts on (lock_waits only ends such waits)
    frame.vector = kDeadlockVector;
    frame.error_code = static_cast<std::uint64_t>(fault.why);
    Attempt attempt{kDeadlockVector, registers, fault.caller};
    attempt.quiet = true;
    attempt.fault_address = reinterpret_cast<std::uint64_t>(fault.mutex);
    if (!contain(frame, &task, attempt)) {
        cpu::enable_interrupts();
        return lock_waits::Refusal::Permanent;
    }
    cpu::enable_interrupts();
    // This frame and the lock's are below the captured one: the unwind starts at the capture's
    // return, runs no destructor there (none is live) and goes on through the cell's frames.
    delos_fault_unwind_entry();
}

FaultContainmentStatistics fault_containment_statistics()
{
    return {__atomic_load_n(&g_contained, __ATOMIC_RELAXED), __atomic_load_n(&g_refused, __ATOMIC_RELAXED),
            __atomic_load_n(&g_masked, __ATOMIC_RELAXED), __atomic_load_n(&g_abandoned, __ATOMIC_RELAXED),
            __atomic_load_n(&g_ended_without_unwind, __ATOMIC_RELAXED)};
}

void set_fault_recovery_decider(FaultRecoveryDecider decider) { g_decider = decider; }

void set_fault_console_reports(bool enabled) { g_console_reports = enabled; }
bool fault_console_reports() { return g_console_reports; }

} // namespace delos::task
