// nano_core.cpp: the only code that is not a cell. It takes the machine from the PVH entry to a
// running kernel core: descriptor tables, frames, the linear map with W^X, the heap, global
// constructors; then it switches to a guarded stack and hands over. Its own code and data live
// in .nano_core.* sections that the kernel reclaims right after the handover.
#include <cstdint>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/interrupts.h"
#include "arch/x86_64/legacy_pic.h"
#include "arch/x86_64/native_mode.h"
#include "arch/x86_64/tsc.h"
#include "debug/exception_report.h"
#include "debug/backtrace.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "kernel/kernel.h"
#include "memory/frame_allocator.h"
#include "memory/kernel_stack.h"
#include "memory/page_table.h"

#define NANO_CORE [[gnu::section(".nano_core.text")]]

extern "C" char __kernel_start[], __kernel_end[];
extern "C" char boot_pml4_user[];  // entry.S: the boot map with U/S=1, at an odd frame
extern "C" void (*__init_array_start[])();
extern "C" void (*__init_array_end[])();

namespace delos {

namespace {

constexpr std::size_t kEarlyIstStackSize = 8192;
constexpr std::size_t kKernelStackPages = 16;
constexpr std::uint64_t kLowMemoryEnd = 0x100000;  // boot data and the legacy hole stay reserved
constexpr std::uint64_t kFirstFourGiB = 1ull << 32;

// IST stacks for double faults, NMIs and machine checks; in the kernel's .bss, not the nano_core.
alignas(16) std::uint8_t g_ist_stacks[3][kEarlyIstStackSize];

kernel::Handover g_handover;
}
std::uint64_t g_switch_tsc, g_ctor_tsc, g_gdt_tsc;
namespace {
memory::KernelStack g_kernel_stack;

NANO_CORE void check(ErrorOr<void> result, const char* step)
{
    if (result.is_error())
        panic(step, result.error());
}

// Switches to `stack_top` and calls kernel_main(handover); rbp = 0 ends backtraces there.
[[noreturn]] NANO_CORE void switch_stack_and_hand_over(std::uint64_t stack_top, const kernel::Handover* handover)
{
    asm volatile(
        "movq %0, %%rsp\n"
        "xorl %%ebp, %%ebp\n"
        "call *%2\n"
        "ud2\n" ::"r"(stack_top),
        "D"(handover), "r"(&kernel::kernel_main)
        : "memory");
    __builtin_unreachable();
}

} // namespace

} // namespace delos

extern "C" [[noreturn]] NANO_CORE void nano_core_main(std::uint32_t start_info_address)
{
    using namespace delos;

    // Global constructors first: a global with a dynamic initializer must not be set up after
    // boot code has already filled it in. They must not allocate (there is no heap yet).
    for (auto constructor = __init_array_start; constructor != __init_array_end; ++constructor)
        (*constructor)();

    set_panic_reporter(report_panic_backtrace);  // before anything can panic
    g_ctor_tsc = cpu::read_tsc();
    const std::uint64_t ist_tops[3] = {reinterpret_cast<std::uint64_t>(g_ist_stacks[0] + kEarlyIstStackSize),
                                       reinterpret_cast<std::uint64_t>(g_ist_stacks[1] + kEarlyIstStackSize),
                                       reinterpret_cast<std::uint64_t>(g_ist_stacks[2] + kEarlyIstStackSize)};
    arch::load_gdt_and_tss(ist_tops);
    g_gdt_tsc = cpu::read_tsc();
    // As early as possible: everything before this runs under instruction emulation on kvm_pvm.
    // The probes need only the #GP gate; the full IDT is built after the switch, at native speed.
    install_exception_report();  // before any gate exists: an early exception is reported, not a silent halt
    arch::load_probe_idt();
    if (arch::detect_kvm_pvm()) {
        auto entered = arch::enter_native_mode(reinterpret_cast<std::uint64_t>(boot_pml4_user));
        if (entered.is_error())
            g_handover.native_mode_error = entered.error().message;
    }
    arch::load_idt();
    if (cpu::native_mode())
        arch::use_native_gates();
    g_switch_tsc = cpu::read_tsc();
    legacy_pic::remap_and_mask();

    // The boot page tables map the first 4 GiB; start_info is checked against that, and
    // everything it points to against the RAM it describes.
    auto& boot = g_handover.boot;
    check(pvh::read_boot_info(ByteView(nullptr, kFirstFourGiB), start_info_address, boot), "reading PVH start_info");
    std::uint64_t ram_end = boot.ram_end();
    for (std::size_t i = 0; i < boot.module_count; ++i) {
        if (boot.modules[i].address + boot.modules[i].size > ram_end)
            panic("a PVH module lies outside RAM");
    }
    tsc::calibrate();

    memory::PhysicalRange reserved[2 + pvh::kMaxModules];
    std::size_t reserved_count = 0;
    reserved[reserved_count++] = {0, kLowMemoryEnd};
    auto kernel_start = reinterpret_cast<std::uint64_t>(__kernel_start);
    reserved[reserved_count++] = {kernel_start, reinterpret_cast<std::uint64_t>(__kernel_end) - kernel_start};
    for (std::size_t i = 0; i < boot.module_count; ++i)
        reserved[reserved_count++] = {memory::align_down(boot.modules[i].address, memory::kPageSize),
                                      memory::align_up(boot.modules[i].size + boot.modules[i].address % memory::kPageSize,
                                                       memory::kPageSize)};
    check(memory::frame_allocator().initialize(boot, reserved, reserved_count), "initialising the frame allocator");

    // Native mode runs the kernel at hardware ring 3: the final map needs U/S=1 throughout.
    memory::set_user_accessible_mappings(cpu::native_mode());
    auto layout = memory::kernel_layout();
    check(memory::kernel_page_table().build_linear_map(ram_end, layout), "building the linear map");
    memory::kernel_page_table().activate();

    auto stack = memory::KernelStack::allocate(kKernelStackPages);
    if (stack.is_error())
        panic("allocating the kernel stack", stack.error());
    g_kernel_stack = stack.release_value();
    g_handover.nano_core_start = layout.nano_core_text_start;
    g_handover.nano_core_end = layout.nano_core_data_end;
    switch_stack_and_hand_over(g_kernel_stack.top(), &g_handover);
}
