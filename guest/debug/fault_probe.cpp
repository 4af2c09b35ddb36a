// fault_probe.cpp: a setjmp-like context saved by fault_probe_enter and restored from the
// exception hook through the interrupt frame.
#include "debug/fault_probe.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"

namespace delos {

struct FaultProbeContext {
    std::uint64_t rbx, rbp, r12, r13, r14, r15, rsp;
    FaultRecord* record;
};

extern "C" {
FaultProbeContext* g_active_fault_probe = nullptr;
std::uint64_t fault_probe_enter(void (*function)(void*), void* argument, FaultProbeContext* context);
void fault_probe_resume();
}

asm(R"(
    .section .text.fault_probe_enter, "ax"
    .global fault_probe_enter
fault_probe_enter:
    movq %rbx, 0(%rdx)
    movq %rbp, 8(%rdx)
    movq %r12, 16(%rdx)
    movq %r13, 24(%rdx)
    movq %r14, 32(%rdx)
    movq %r15, 40(%rdx)
    movq %rsp, 48(%rdx)
    movq %rdx, g_active_fault_probe(%rip)
    movq %rdi, %rax
    movq %rsi, %rdi
    subq $8, %rsp
    call *%rax
    addq $8, %rsp
    movq $0, g_active_fault_probe(%rip)
    xorl %eax, %eax
    ret
    .global fault_probe_resume
fault_probe_resume:
    movl $1, %eax
    ret
    .text
)");

namespace {

bool resume_active_probe(arch::InterruptFrame& frame)
{
    FaultProbeContext* context = g_active_fault_probe;
    if (!context || frame.vector == 8 || frame.vector == 18)
        return false;  // no probe, or an exception nothing should resume from
    g_active_fault_probe = nullptr;
    *context->record = {frame.vector, frame.error_code, frame.rip, frame.vector == 14 ? cpu::read_cr2() : 0};
    frame.rbx = context->rbx;
    frame.rbp = context->rbp;
    frame.r12 = context->r12;
    frame.r13 = context->r13;
    frame.r14 = context->r14;
    frame.r15 = context->r15;
    frame.rsp = context->rsp;
    frame.rip = reinterpret_cast<std::uint64_t>(&fault_probe_resume);
    return true;
}

} // namespace

bool run_expecting_fault(void (*function)(void*), void* argument, FaultRecord& record)
{
    FaultProbeContext context{};
    context.record = &record;
    return fault_probe_enter(function, argument, &context) != 0;
}

void install_fault_probe_hook() { (void)arch::add_exception_hook(resume_active_probe, arch::kExceptionRankProbe); }

} // namespace delos
