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

void describe_page_fault(std::uint64_t error_code)
{
    kprint("  page fault: {} {} page{}{}, cr2={:#018x}\n", (error_code & 2) ? "write to" : "read from",
           (error_code & 1) ? "a protected" : "a non-present", (error_code & 16) ? ", instruction fetch" : "",
           (error_code & 8) ? ", reserved bit set" : "", cpu::read_cr2());
}

[[noreturn]] void report_fatal_exception(const InterruptFrame& frame)
{
    kernel_symbols::Symbol symbol;
    StringView owner;
    kprint("delos: EXCEPTION {} (vector {}) error {:#x} at rip {:#018x}", exception_name(frame.vector), frame.vector,
           frame.error_code, frame.rip);
    if (kernel_symbols::symbolize(frame.rip, symbol, owner))
        kprint(" <{}+{:#x}> ({})\n", symbol.display_name, frame.rip - symbol.address, owner);
    else
        kprint("\n");
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

} // namespace delos::arch

extern "C" void interrupt_dispatch(delos::arch::InterruptFrame* frame)
{
    using namespace delos::arch;
    if (frame->rip == reinterpret_cast<std::uint64_t>(delos_halt_instruction))
        frame->rip += 1;  // woken between sti and hlt: do not go to sleep after this wake-up
    if (frame->vector < 32) {
        if (frame->vector == kGeneralProtection) {
            if (std::uint64_t fixup = msr_fixup_for(frame->rip)) {
                frame->rip = fixup;  // a probed MSR does not exist here
                return;
            }
        }
        if (g_exception_hook && g_exception_hook(*frame))
            return;
        report_fatal_exception(*frame);
    }
    if (InterruptHandler handler = g_handlers[frame->vector & 0xff]) {
        handler(*frame);
        return;
    }
    delos::kprint("delos: spurious interrupt vector {}\n", frame->vector);
}
