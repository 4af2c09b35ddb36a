// mode_probe.cpp: `--cmdline probe-mode`, a diagnostic: times each operation that traps to
// kvm_pvm, and a plain 20000-iteration loop after it (~10 µs native, ~40 ms emulated), to see
// what each costs and whether it leaves the vCPU in instruction emulation. How the CR3 bit-12
// rule (page_table.cpp) was found.
#include "diagnostics/mode_probe.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"

namespace delos::diagnostics {

namespace {

std::uint64_t loop_ns()
{
    std::uint64_t start = tsc::nanoseconds_since_boot();
    std::uint64_t x = 0;
    for (int i = 0; i < 20000; ++i)
        asm volatile("add $1, %0" : "+r"(x));
    return tsc::nanoseconds_since_boot() - start;
}

void report(const char* what, std::uint64_t op_ns)
{
    std::uint64_t after = loop_ns();
    std::uint64_t again = loop_ns();
    kprint("probe: {:<28} op {:>8} ns, loop after {:>9} ns, again {:>9} ns\n", what, op_ns, after, again);
}

template <typename F>
void probe(const char* what, F op)
{
    (void)loop_ns();
    std::uint64_t start = tsc::nanoseconds_since_boot();
    op();
    report(what, tsc::nanoseconds_since_boot() - start);
}

} // namespace

void run_mode_probe()
{
    bool on = cpu::interrupts_enabled();
    cpu::disable_interrupts();
    probe("nothing", [] {});
    probe("out 0x80", [] { cpu::out8(0x80, 0); });
    probe("rep outsb 0x80 x4", [] { const char* b = "abcd"; std::size_t n = 4; asm volatile("rep outsb" : "+S"(b), "+c"(n) : "d"(0x80) : "memory"); });
    probe("nothing", [] {});
    probe("outsb 0x80 x1", [] { const char* b = "abcd"; asm volatile("outsb" : "+S"(b) : "d"(0x80) : "memory"); });
    probe("nothing", [] {});
    probe("cli", [] { cpu::disable_interrupts_hard(); });
    probe("rdmsr tsc_deadline", [] { (void)cpu::read_msr(0x6e0); });
    probe("wrmsr tsc_deadline 0", [] { cpu::write_msr(0x6e0, 0); });
    probe("read cr3", [] { (void)cpu::read_cr3(); });
    probe("write cr3", [] { cpu::write_cr3(cpu::read_cr3()); });
    probe("invlpg", [] { cpu::invalidate_page(0x200000); });
    probe("cpuid", [] { (void)cpu::cpuid(0); });
    probe("rdtsc", [] { (void)cpu::read_tsc(); });
    probe("in 0x61", [] { (void)cpu::in8(0x61); });
    auto frame = memory::frame_allocator().allocate(1);
    if (!frame.is_error()) {
        std::uint64_t start = frame.value().start;
        probe("set_access rw (4K)", [&] { (void)memory::kernel_page_table().set_access(start, memory::kPageSize, memory::Access::Read); });
        probe("set_access back", [&] { (void)memory::kernel_page_table().set_access(start, memory::kPageSize, memory::Access::ReadWrite); });
        probe("write to the page", [&] { *reinterpret_cast<volatile std::uint64_t*>(start) = 1; });
    }
    probe("sti", [] { cpu::enable_interrupts_hard(); });  // the trap itself (soft mask stays set)
    probe("cli again", [] { cpu::disable_interrupts_hard(); });
    probe("out 0x80", [] { cpu::out8(0x80, 0); });
    if (on) {
        cpu::enable_interrupts();
        // What a spin lock pays: the soft mask in native mode, cli + sti otherwise.
        probe("disable+enable interrupts", [] { cpu::disable_interrupts(); cpu::enable_interrupts(); });
    }
}

} // namespace delos::diagnostics
