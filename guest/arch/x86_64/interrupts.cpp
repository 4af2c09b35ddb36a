// interrupts.cpp: IDT setup and the C++ side of interrupt dispatch, including the fatal
// exception report (vector, error code, RIP, CR2, registers and a symbolized backtrace).
#include "arch/x86_64/interrupts.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/native_mode.h"
#include "debug/backtrace.h"
#include "debug/kernel_log.h"
#include "debug/kernel_symbols.h"
#include "drivers/platform/platform_ports.h"

extern "C" const std::uint64_t interrupt_entry_table[256];

namespace delos::arch {

namespace {

struct [[gnu::packed]] IdtEntry {
    std::uint16_t offset_low;
    std::uint16_t selector;
    std::uint8_t ist;
    std::uint8_t type_attributes;
    std::uint16_t offset_middle;
    std::uint32_t offset_high;
    std::uint32_t zero;
};
static_assert(sizeof(IdtEntry) == 16);

struct [[gnu::packed]] IdtPointer {
    std::uint16_t limit;
    std::uint64_t base;
};

constexpr std::uint8_t kInterruptGate = 0x8e;  // present, ring 0, interrupts off on entry
// Native mode: int3 runs at hardware ring 3, so gates must be DPL3 to be reachable at all.
constexpr std::uint8_t kNativeInterruptGate = 0xee;
constexpr std::uint64_t kGeneralProtection = 13;
constexpr std::uint64_t kPageFault = 14;

alignas(16) IdtEntry g_idt[256];
InterruptHandler g_handlers[256];
ExceptionHook g_exception_hook = nullptr;
bool g_exception_from_soft_masked_code = false;  // native mode: the soft mask when the exception came

void describe_page_fault(std::uint64_t error_code)
{
    kprint("  page fault: {} {} page{}{}, cr2={:#018x}\n", (error_code & 2) ? "write to" : "read from",
           (error_code & 1) ? "a protected" : "a non-present", (error_code & 16) ? ", instruction fetch" : "",
           (error_code & 8) ? ", reserved bit set" : "", cpu::read_cr2());
}

[[noreturn]] void report_fatal_exception(const InterruptFrame& frame)
{
    char location[256];
    FixedBufferSink sink(location, sizeof location);
    describe_code_address(sink, frame.rip, frame.rip);
    kprint("delos: EXCEPTION {} (vector {}) error {:#x} at rip {:#018x} <{}>\n", exception_name(frame.vector), frame.vector,
           frame.error_code, frame.rip, sink.view());
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

} // namespace

const char* exception_name(std::uint64_t vector)
{
    static const char* const names[32] = {
        "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
        "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
        "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
        "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check", "#MC machine check",
        "#XM SIMD error", "#VE virtualization", "#CP control protection", "reserved", "reserved", "reserved",
        "reserved", "reserved", "reserved", "#HV hypervisor injection", "#VC VMM communication",
        "#SX security", "reserved"};
    return vector < 32 ? names[vector] : "interrupt";
}

void load_probe_idt()
{
    // Only #GP: under kvm_pvm's instruction emulation each of load_idt's 256 gates costs
    // ~20 µs, so the full table is built after the switch to native mode.
    std::uint64_t handler = interrupt_entry_table[kGeneralProtection];
    g_idt[kGeneralProtection] = {static_cast<std::uint16_t>(handler), kKernelCodeSelector, 0, kInterruptGate,
                                 static_cast<std::uint16_t>(handler >> 16), static_cast<std::uint32_t>(handler >> 32), 0};
    IdtPointer pointer{sizeof(g_idt) - 1, reinterpret_cast<std::uint64_t>(g_idt)};
    asm volatile("lidt %0" ::"m"(pointer));
}

void load_idt()
{
    for (unsigned vector = 0; vector < 256; ++vector) {
        std::uint64_t handler = interrupt_entry_table[vector];
        std::uint8_t ist = 0;
        if (vector == 8)
            ist = kIstDoubleFault;
        else if (vector == 2)
            ist = kIstNmi;
        else if (vector == 18)
            ist = kIstMachineCheck;
        g_idt[vector] = {static_cast<std::uint16_t>(handler), kKernelCodeSelector, ist, kInterruptGate,
                         static_cast<std::uint16_t>(handler >> 16), static_cast<std::uint32_t>(handler >> 32), 0};
    }
    IdtPointer pointer{sizeof(g_idt) - 1, reinterpret_cast<std::uint64_t>(g_idt)};
    asm volatile("lidt %0" ::"m"(pointer));
}

void use_native_gates()
{
    // kvm_pvm delivers on the current stack into a DPL3 64-bit segment; an IST or a DPL0
    // target fails its stack switch (#SS -> #DF -> triple fault).
    for (auto& gate : g_idt) {
        gate.selector = kNativeCodeSelector;
        gate.ist = 0;
        gate.type_attributes = kNativeInterruptGate;
    }
}

void set_interrupt_handler(std::uint8_t vector, InterruptHandler handler) { g_handlers[vector] = handler; }

void set_exception_hook(ExceptionHook hook) { g_exception_hook = hook; }

bool exception_interrupted_masked_code(const InterruptFrame& frame)
{
    if (cpu::native_mode())
        return g_exception_from_soft_masked_code;
    return (frame.rflags & (1u << 9)) == 0;
}

} // namespace delos::arch

namespace {

using namespace delos::arch;

extern "C" const char delos_soft_halt_window_start[];
extern "C" const char delos_soft_halt_window_end[];

constexpr std::uint64_t kInterruptFlag = 1u << 9;

bool soft_masked() { return __atomic_load_n(&delos_soft_interrupt_mask, __ATOMIC_RELAXED); }
void set_soft_mask(bool masked)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&delos_soft_interrupt_mask, masked, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

std::uint64_t g_deferred_interrupts = 0;

// Called on interrupt entry with the virtual IF off (the gate cleared it).
void defer(std::uint64_t vector)
{
    ++g_deferred_interrupts;
    __atomic_fetch_or(&delos_pending_interrupts[(vector & 0xff) / 64], 1ull << (vector % 64), __ATOMIC_RELAXED);
    __atomic_store_n(&delos_pending_interrupt_summary, true, __ATOMIC_RELAXED);
}

// Takes the lowest pending vector (0 if none). The summary is cleared before the scan, so a
// vector deferred meanwhile (only possible with the virtual IF on) sets it again.
std::uint64_t take_pending()
{
    __atomic_store_n(&delos_pending_interrupt_summary, false, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    for (unsigned word = 0; word < 4; ++word) {
        std::uint64_t bits = __atomic_load_n(&delos_pending_interrupts[word], __ATOMIC_RELAXED);
        if (bits == 0)
            continue;
        unsigned bit = static_cast<unsigned>(__builtin_ctzll(bits));
        __atomic_fetch_and(&delos_pending_interrupts[word], ~(1ull << bit), __ATOMIC_RELAXED);
        __atomic_store_n(&delos_pending_interrupt_summary, true, __ATOMIC_RELAXED);  // others may remain: look again
        return word * 64 + bit;
    }
    return 0;
}

void run_handler(InterruptFrame& frame)
{
    if (InterruptHandler handler = g_handlers[frame.vector & 0xff]) {
        handler(frame);
        return;
    }
    delos::kprint("delos: spurious interrupt vector {}\n", frame.vector);
}

// An exception: a probed MSR that does not exist resumes at its fixup; anything else goes to the
// hook (the fault probe) or is fatal.
void handle_exception(InterruptFrame& frame)
{
    if (frame.vector == kGeneralProtection) {
        if (std::uint64_t fixup = msr_fixup_for(frame.rip)) {
            frame.rip = fixup;
            return;
        }
    }
    if (g_exception_hook && g_exception_hook(frame))
        return;
    report_fatal_exception(frame);
}

// Runs a deferred vector's handler here, with the mask set, as if the interrupt had arrived now
// with interrupts on: the handler sends its EOI and may preempt (switch tasks) from here, as it
// would from the interrupt stub; the frame is only there for the handler to read.
void run_deferred(std::uint64_t vector)
{
    InterruptFrame frame{};
    frame.vector = vector;
    frame.rip = reinterpret_cast<std::uint64_t>(__builtin_return_address(0));
    frame.rsp = reinterpret_cast<std::uint64_t>(__builtin_frame_address(0));
    frame.rflags = kInterruptFlag | 2;
    frame.cs = kNativeCodeSelector;
    run_handler(frame);
}

// Runs every pending vector, mask set; returns whether it ran any.
bool run_all_pending()
{
    bool ran = false;
    while (__atomic_load_n(&delos_pending_interrupt_summary, __ATOMIC_RELAXED)) {
        std::uint64_t vector = take_pending();
        if (vector == 0) {
            // The summary was set but no bit: take_pending cleared it, unless a new deferral
            // (bit first, then summary) raced in, which the loop condition sees.
            continue;
        }
        run_deferred(vector);
        ran = true;
    }
    return ran;
}

} // namespace

std::uint64_t delos::arch::deferred_interrupt_count() { return __atomic_load_n(&g_deferred_interrupts, __ATOMIC_RELAXED); }

// The slow half of enable_interrupts / enable_interrupts_and_halt in native mode: something is
// pending or the virtual IF is off. Leaves the mask clear, the virtual IF on and nothing
// pending; returns whether it ran a deferred handler.
extern "C" bool delos_soft_unmask_slow()
{
    bool ran = false;
    for (;;) {
        set_soft_mask(true);
        ran |= run_all_pending();
        if (!__atomic_load_n(&delos_virtual_interrupt_flag, __ATOMIC_RELAXED)) {
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            // Off: either it was off all along or a deferral since the last look turned it off.
            if (__atomic_load_n(&delos_pending_interrupt_summary, __ATOMIC_RELAXED))
                continue;
            // Nothing can arrive until the sti, and after it the mask is clear.
            set_soft_mask(false);
            delos::cpu::enable_interrupts_hard();
            return ran;
        }
        // The IF is on (a handler switched tasks and we came back on another's IF): an interrupt
        // may have been deferred since the last look; clear the mask, then look once more.
        set_soft_mask(false);
        if (!__atomic_load_n(&delos_pending_interrupt_summary, __ATOMIC_RELAXED) &&
            __atomic_load_n(&delos_virtual_interrupt_flag, __ATOMIC_RELAXED))
            return ran;
    }
}

extern "C" void interrupt_dispatch(delos::arch::InterruptFrame* frame)
{
    using namespace delos::arch;
    if (delos_native_mode) {
        bool was_masked = soft_masked();
        if (was_masked && frame->vector >= 32) {
            // Soft-masked: remember it, return with the virtual IF off (no sti), no handler, no EOI.
            defer(frame->vector);
            frame->rflags &= ~kInterruptFlag;
            return;
        }
        auto rip = frame->rip;
        if (rip >= reinterpret_cast<std::uint64_t>(delos_soft_halt_window_start) &&
            rip < reinterpret_cast<std::uint64_t>(delos_soft_halt_window_end))
            frame->rip = reinterpret_cast<std::uint64_t>(delos_soft_halt_window_end);  // the wake-up: no hlt after it
        set_soft_mask(true);  // handlers run with interrupts off, and their spin locks see it
        if (frame->vector < 32) {
            g_exception_from_soft_masked_code = was_masked;
            handle_exception(*frame);
        }
        else
            run_handler(*frame);
        // Going back to unmasked code from an interrupt: what was deferred meanwhile (while
        // another task ran masked, then switched back to us) runs now, before the return.
        // Exceptions never switch tasks; unmasked code with something pending is then only
        // enable_interrupts between its clear and its check, which runs it itself (and an NMI
        // there must not run handlers from NMI context).
        if (!was_masked && frame->vector < 32) {
            set_soft_mask(false);
        } else if (!was_masked) {
            for (;;) {
                (void)run_all_pending();
                set_soft_mask(false);
                // A deferral between the last look and the clear (possible only if a handler
                // switched tasks and we came back with the IF on) is caught here; after the
                // clear, an interrupt is handled at once.
                if (!__atomic_load_n(&delos_pending_interrupt_summary, __ATOMIC_RELAXED))
                    break;
                set_soft_mask(true);
            }
        }
        return;
    }
    if (frame->rip == reinterpret_cast<std::uint64_t>(delos_halt_instruction))
        frame->rip += 1;  // woken between sti and hlt: do not go to sleep after this wake-up
    if (frame->vector < 32) {
        handle_exception(*frame);
        return;
    }
    run_handler(*frame);
}
