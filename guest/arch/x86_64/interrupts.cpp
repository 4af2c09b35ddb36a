// interrupts.cpp: IDT setup and the C++ side of interrupt dispatch: device handlers, the
// exception hook chain, and handing unhandled exceptions to the fatal reporter.
#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/stack_limit.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/native_mode.h"

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

alignas(16) IdtEntry g_idt[256];
InterruptHandler g_handlers[256];
struct RankedHook {
    ExceptionHook hook;
    int rank;
};
RankedHook g_exception_hooks[kMaxExceptionHooks];
unsigned g_exception_hook_count = 0;
FatalExceptionReporter g_fatal_reporter = nullptr;
InterruptHandler g_spurious_handler = nullptr;
std::uint64_t g_spurious_interrupts = 0;
bool g_exception_from_soft_masked_code = false;  // native mode: the soft mask when the exception came

} // namespace

bool add_exception_hook(ExceptionHook hook, int rank)
{
    if (!hook || g_exception_hook_count == kMaxExceptionHooks)
        return false;
    for (unsigned i = 0; i < g_exception_hook_count; ++i) {
        if (g_exception_hooks[i].hook == hook)
            return false;
    }
    // Insertion keeps the chain ordered by rank; equal ranks keep their order of arrival.
    unsigned position = g_exception_hook_count;
    while (position > 0 && g_exception_hooks[position - 1].rank > rank) {
        g_exception_hooks[position] = g_exception_hooks[position - 1];
        --position;
    }
    g_exception_hooks[position] = {hook, rank};
    __atomic_store_n(&g_exception_hook_count, g_exception_hook_count + 1, __ATOMIC_RELEASE);
    return true;
}

void remove_exception_hook(ExceptionHook hook)
{
    for (unsigned i = 0; i < g_exception_hook_count; ++i) {
        if (g_exception_hooks[i].hook != hook)
            continue;
        for (unsigned j = i + 1; j < g_exception_hook_count; ++j)
            g_exception_hooks[j - 1] = g_exception_hooks[j];
        __atomic_store_n(&g_exception_hook_count, g_exception_hook_count - 1, __ATOMIC_RELEASE);
        return;
    }
}

void set_fatal_exception_reporter(FatalExceptionReporter reporter) { g_fatal_reporter = reporter; }
void set_spurious_interrupt_handler(InterruptHandler handler) { g_spurious_handler = handler; }
std::uint64_t spurious_interrupt_count() { return __atomic_load_n(&g_spurious_interrupts, __ATOMIC_RELAXED); }

namespace {

bool run_exception_hooks(InterruptFrame& frame)
{
    unsigned count = __atomic_load_n(&g_exception_hook_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < count; ++i) {
        if (g_exception_hooks[i].hook(frame))
            return true;
    }
    return false;
}

[[noreturn]] void report_fatal_exception(const InterruptFrame& frame)
{
    if (FatalExceptionReporter reporter = g_fatal_reporter)
        reporter(frame);  // does not return in practice; if it does, the CPU stops here
    cpu::halt_forever();
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

bool frame_left_ring_zero(const InterruptFrame& frame)
{
    constexpr std::uint64_t kVirtual8086 = 1u << 17;  // its CS is a real-mode segment, whatever its low bits
    return !cpu::native_mode() && ((frame.cs & 3) != 0 || (frame.rflags & kVirtual8086) != 0);
}

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
    ++g_spurious_interrupts;
    if (InterruptHandler fallback = g_spurious_handler)
        fallback(frame);
}

// An exception: a probed MSR that does not exist resumes at its fixup; anything else goes to the
// hook chain (the fault probe, later fault recovery) or to the fatal reporter.
void handle_exception(InterruptFrame& frame)
{
    if (frame.vector == kGeneralProtection) {
        if (std::uint64_t fixup = msr_fixup_for(frame.rip)) {
            frame.rip = fixup;
            return;
        }
    }
    if (run_exception_hooks(frame))
        return;
    report_fatal_exception(frame);
}

} // namespace

void delos::arch::handle_as_exception(InterruptFrame& frame) { handle_exception(frame); }

namespace {

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
namespace {
struct StackLimitLifted {
    std::uint64_t saved = delos::arch::stack_limit();
    [[gnu::always_inline]] StackLimitLifted() { delos::arch::set_stack_limit(0); }
    [[gnu::always_inline]] ~StackLimitLifted() { delos::arch::set_stack_limit(saved); }
};
} // namespace

// Replays handlers in task context: like interrupts.S, it lifts the task's stack limit around
// them (arch/x86_64/stack_limit.h) and puts it back after.
extern "C" __attribute__((no_split_stack)) bool delos_soft_unmask_slow();
extern "C" bool delos_soft_unmask_slow()
{
    StackLimitLifted lifted;
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
