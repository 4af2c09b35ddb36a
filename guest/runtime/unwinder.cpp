// unwinder.cpp: phase-2-only (forced) unwinding over the registered frame tables, the personality
// routine over GCC's LSDA, _Unwind_Resume, and installing a landing pad's registers.
#include "runtime/unwinder.h"

#include "log/kernel_log.h"
#include "log/panic.h"
#include "lib/core/format.h"
#include "lib/unwind/lsda.h"
#include "runtime/frame_tables.h"

// The parts of the unwinder ABI (libgcc's unwind.h) that __gxx_personality_v0 speaks.
enum _Unwind_Reason_Code : int {
    _URC_NO_REASON = 0,
    _URC_FATAL_PHASE2_ERROR = 2,
    _URC_FATAL_PHASE1_ERROR = 3,
    _URC_END_OF_STACK = 5,
    _URC_HANDLER_FOUND = 6,
    _URC_INSTALL_CONTEXT = 7,
    _URC_CONTINUE_UNWIND = 8,
};
using _Unwind_Action = int;
inline constexpr _Unwind_Action _UA_SEARCH_PHASE = 1;
inline constexpr _Unwind_Action _UA_CLEANUP_PHASE = 2;
inline constexpr _Unwind_Action _UA_FORCE_UNWIND = 8;

// One frame as the personality routine sees it.
struct _Unwind_Context {
    delos::unwind::RegisterSet registers;
    delos::unwinding::FoundFrame frame;
    bool ip_before_instruction;  // the faulting frame: ip is the instruction itself
};

extern "C" _Unwind_Reason_Code __gxx_personality_v0(int version, _Unwind_Action actions, std::uint64_t exception_class,
                                                    _Unwind_Exception* exception, _Unwind_Context* context);

namespace delos::unwinding {

namespace {

using unwind::RegisterSet;

struct StackBounds {
    std::uint64_t low, high;
};

bool read_stack(void* context, std::uint64_t address, std::uint64_t& value)
{
    auto* bounds = static_cast<StackBounds*>(context);
    if (address % 8 != 0 || address < bounds->low || address >= bounds->high || bounds->high - address < 8)
        return false;
    value = *reinterpret_cast<const std::uint64_t*>(address);
    return true;
}

std::uint64_t lookup_ip(const RegisterSet& registers, bool ip_is_instruction)
{
    return ip_is_instruction ? registers.ip() : registers.ip() - 1;
}

// The personality of a frame must be ours: a cell's CIE could name any address.
ErrorOr<void> check_personality(const unwind::FrameDescriptionEntry& fde)
{
    if (fde.cie.personality == 0)
        return {};
    if (fde.cie.personality_indirect || fde.cie.personality != reinterpret_cast<std::uint64_t>(&__gxx_personality_v0))
        return Error::make(ErrorCode::Unsupported, "frame has an unknown personality routine", fde.cie.personality);
    return {};
}

// One step outwards; fails unless the caller's stack pointer moves up inside the stack.
ErrorOr<unwind::StepResult> step_frame(const FoundFrame& frame, const RegisterSet& registers, std::uint64_t ip,
                                       StackBounds& bounds)
{
    unwind::FrameRow row = TRY(unwind::compute_row(frame.fde, ip));
    unwind::MemoryAccess memory{read_stack, &bounds};
    unwind::StepResult result = TRY(unwind::step(row, frame.fde.cie.return_address_register, registers, memory));
    if (!result.end_of_stack) {
        std::uint64_t caller_sp = result.caller.sp();
        if (caller_sp <= registers.sp() || caller_sp > bounds.high)
            return Error::make(ErrorCode::Malformed, "unwinding does not move up the stack", caller_sp);
    }
    return result;
}

struct InstallState {
    std::uint64_t rax, rdx, rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

extern "C" [[noreturn]] void delos_unwind_install(const InstallState* state);
asm(R"(
    .section .text.delos_unwind_install, "ax"
    .global delos_unwind_install
    .type delos_unwind_install, @function
delos_unwind_install:
    movq 0(%rdi), %rax
    movq 8(%rdi), %rdx
    movq 16(%rdi), %rbx
    movq 24(%rdi), %rbp
    movq 32(%rdi), %r12
    movq 40(%rdi), %r13
    movq 48(%rdi), %r14
    movq 56(%rdi), %r15
    movq 72(%rdi), %r11
    movq 64(%rdi), %rsp
    jmp *%r11
    .size delos_unwind_install, . - delos_unwind_install
    .text
)");

[[noreturn]] void install(const RegisterSet& registers)
{
    using namespace unwind;
    InstallState state{registers.values[kRax], registers.values[kRdx], registers.values[kRbx], registers.values[kRbp],
                       registers.values[kR12], registers.values[kR13], registers.values[kR14], registers.values[kR15],
                       registers.values[kRsp], registers.values[kReturnAddress]};
    delos_unwind_install(&state);
}

[[noreturn]] void continue_unwind(ForcedUnwind& unwind, RegisterSet registers, bool ip_is_instruction);

// Entering a pad: where the unwind goes on if the pad never resumes it properly.
void note_pad(ForcedUnwind& unwind, const FoundFrame& frame, const RegisterSet& registers, std::uint64_t ip,
              StackBounds& bounds)
{
    auto stepped = step_frame(frame, registers, ip, bounds);
    unwind.pad_running = !stepped.is_error();
    if (stepped.is_error())
        return;
    unwind.pad_frame_ip = ip;
    unwind.pad_frame_outermost = stepped.value().end_of_stack;
    unwind.above_pad = stepped.value().caller;
}

[[noreturn]] void unwind_failed(ForcedUnwind& unwind, const char* what, std::uint64_t ip, const Error& error)
{
    if (can_abandon_landing_pad(unwind)) {
        kprint("unwinding: {} at {:#x} ({}) after a landing pad of the frame at {:#x}\n", what, ip, error.message,
               unwind.pad_frame_ip);
        abandon_landing_pad(unwind, "the landing pad resumed the unwind where it cannot go on");
    }
    char buffer[160];
    FixedBufferSink sink(buffer, sizeof buffer);
    format_to(sink, "unwinding: {} at {:#x}", what, ip);
    panic(sink.view(), error);
}

// Phase 2 from `registers`; returns only by installing a landing pad or through unwind.stop.
[[noreturn]] void continue_unwind(ForcedUnwind& unwind, RegisterSet registers, bool ip_is_instruction)
{
    StackBounds bounds{unwind.stack_low, unwind.stack_high};
    for (;;) {
        // Frames count when left; landing pads separately, since a frame is visited again after
        // each of its pads resumes (a hostile LSDA could send a pad back to itself forever).
        if (unwind.frames > kMaxFrames || unwind.landing_pads > kMaxLandingPads)
            panic("unwinding: more frames or landing pads than the unwinder runs");
        std::uint64_t ip = lookup_ip(registers, ip_is_instruction);
        auto found = find_frame(ip);
        if (found.is_error())
            unwind_failed(unwind, "no unwind information", ip, found.error());
        FoundFrame& frame = found.value();
        if (auto personality = check_personality(frame.fde); personality.is_error())
            unwind_failed(unwind, "refused personality", ip, personality.error());
        if (frame.fde.cie.personality) {
            _Unwind_Context context{registers, frame, ip_is_instruction};
            auto code = __gxx_personality_v0(1, _UA_CLEANUP_PHASE | _UA_FORCE_UNWIND, unwind.header.exception_class,
                                             &unwind.header, &context);
            if (code == _URC_INSTALL_CONTEXT) {
                ++unwind.landing_pads;
                note_pad(unwind, frame, registers, ip, bounds);
                install(context.registers);
            }
            if (code != _URC_CONTINUE_UNWIND)
                unwind_failed(unwind, "the personality routine refused the frame (noexcept or bad LSDA)", ip,
                              Error::make(ErrorCode::Unsupported, "personality result", static_cast<std::uint64_t>(code)));
        }
        auto stepped = step_frame(frame, registers, ip, bounds);
        if (stepped.is_error())
            unwind_failed(unwind, "cannot find the caller", ip, stepped.error());
        unwind.pad_running = false;  // past the frame whose pad ran: its cleanups are done
        ++unwind.frames;
        if (stepped.value().end_of_stack)
            break;
        registers = stepped.value().caller;
        ip_is_instruction = false;
    }
    unwind.stop(unwind);
    panic("unwinding: the stop function returned");
}

} // namespace

bool can_abandon_landing_pad(const ForcedUnwind& unwind)
{
    return unwind.pad_running && unwind.may_abandon && unwind.may_abandon(unwind.pad_frame_ip);
}

void abandon_landing_pad(ForcedUnwind& unwind, const char* why)
{
    // Cleared first: a second failure before the walk moves past this frame finds nothing to abandon.
    unwind.pad_running = false;
    ++unwind.abandoned_frames;
    ++unwind.frames;
    kprint("unwinding: {}: the rest of the cleanups of the frame at {:#x} abandoned, going on at its caller\n", why,
           unwind.pad_frame_ip);
    if (unwind.pad_frame_outermost) {
        unwind.stop(unwind);
        panic("unwinding: the stop function returned");
    }
    continue_unwind(unwind, unwind.above_pad, false);
}

ErrorOr<std::size_t> check_unwindable(const RegisterSet& start, FirstFrame first, std::uint64_t stack_low,
                                      std::uint64_t stack_high, std::uint64_t& failing_ip, std::uint64_t* ips,
                                      std::size_t capacity)
{
    StackBounds bounds{stack_low, stack_high};
    RegisterSet registers = start;
    bool ip_is_instruction = first == FirstFrame::FaultingInstruction;
    for (std::size_t frames = 1; frames <= kMaxFrames; ++frames) {
        std::uint64_t ip = lookup_ip(registers, ip_is_instruction);
        failing_ip = ip;
        if (ips && frames <= capacity)
            ips[frames - 1] = registers.ip();
        FoundFrame frame = TRY(find_frame(ip));
        TRY(check_personality(frame.fde));
        if (frame.fde.cie.personality && frame.fde.lsda) {
            auto site = TRY(unwind::find_call_site(frame.lsda, frame.lsda_address, frame.fde.pc_begin, ip));
            // No call-site entry: at the faulting instruction, one the compiler thought could not
            // trap (corrupted or skipped); in a caller, a noexcept function (heap_free reached
            // with a pointer it refuses). Either frame registered no cleanup for that point, so
            // it is passed through without one (see the personality below), and the frames
            // below and above it are unwound as usual — instead of resuming the unwind further
            // up the stack, which would skip every frame in between with its destructors.
            if (site.kind == unwind::CallSiteKind::LandingPad && !frame.fde.contains(site.landing_pad))
                return Error::make(ErrorCode::Malformed, "landing pad outside its function", site.landing_pad);
        }
        unwind::StepResult stepped = TRY(step_frame(frame, registers, ip, bounds));
        if (stepped.end_of_stack)
            return frames;
        registers = stepped.caller;
        ip_is_instruction = false;
    }
    return Error::make(ErrorCode::OutOfRange, "more frames than the unwinder walks", kMaxFrames);
}

void run_forced_unwind(ForcedUnwind& unwind, const RegisterSet& registers, FirstFrame first)
{
    unwind.header.exception_class = kFaultExceptionClass;
    continue_unwind(unwind, registers, first == FirstFrame::FaultingInstruction);
}

} // namespace delos::unwinding

using namespace delos;

// Landing pads end in _Unwind_Resume(exception): capture the caller's frame (its return address,
// stack pointer and callee-saved registers) and carry on from there.
struct ResumeCapture {
    std::uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};
extern "C" [[noreturn]] void delos_unwind_resume(_Unwind_Exception* exception, const ResumeCapture* capture);
asm(R"(
    .section .text._Unwind_Resume, "ax"
    .global _Unwind_Resume
    .type _Unwind_Resume, @function
_Unwind_Resume:
    movq (%rsp), %rax
    leaq 8(%rsp), %rcx
    subq $72, %rsp
    movq %rbx, 0(%rsp)
    movq %rbp, 8(%rsp)
    movq %r12, 16(%rsp)
    movq %r13, 24(%rsp)
    movq %r14, 32(%rsp)
    movq %r15, 40(%rsp)
    movq %rcx, 48(%rsp)
    movq %rax, 56(%rsp)
    movq %rsp, %rsi
    call delos_unwind_resume
    ud2
    .size _Unwind_Resume, . - _Unwind_Resume
    .text
)");

extern "C" void delos_unwind_resume(_Unwind_Exception* exception, const ResumeCapture* capture)
{
    using namespace unwind;
    if (!exception || exception->exception_class != unwinding::kFaultExceptionClass)
        panic("_Unwind_Resume with an exception the unwinder did not start");
    auto& unwind = *reinterpret_cast<unwinding::ForcedUnwind*>(exception);
    RegisterSet registers;
    registers.set(kRbx, capture->rbx);
    registers.set(kRbp, capture->rbp);
    registers.set(kR12, capture->r12);
    registers.set(kR13, capture->r13);
    registers.set(kR14, capture->r14);
    registers.set(kR15, capture->r15);
    registers.set(kRsp, capture->rsp);
    registers.set(kReturnAddress, capture->rip);
    unwinding::continue_unwind(unwind, registers, false);
}

// The C++ personality routine for forced unwinding: a covered instruction with a landing pad gets
// it entered with selector 0, which runs cleanups and never matches a catch clause (a fault is
// not a C++ exception); no entry in the call-site table (noexcept) is an error, as terminate.
extern "C" _Unwind_Reason_Code __gxx_personality_v0(int version, _Unwind_Action actions, std::uint64_t,
                                                    _Unwind_Exception* exception, _Unwind_Context* context)
{
    using namespace unwind;
    if (version != 1 || !context)
        return _URC_FATAL_PHASE1_ERROR;
    if (actions & _UA_SEARCH_PHASE)
        return _URC_CONTINUE_UNWIND;  // forced unwinding never searches for handlers
    const unwinding::FoundFrame& frame = context->frame;
    if (!frame.fde.lsda)
        return _URC_CONTINUE_UNWIND;
    std::uint64_t ip = context->ip_before_instruction ? context->registers.ip() : context->registers.ip() - 1;
    auto site = find_call_site(frame.lsda, frame.lsda_address, frame.fde.pc_begin, ip);
    if (site.is_error())
        return _URC_FATAL_PHASE2_ERROR;
    // No entry: at the faulting instruction the compiler did not expect a fault there (the
    // instruction was corrupted or skipped); in a caller's frame the function is noexcept, where
    // C++ would terminate. A fault is not an exception: the frame has no cleanup registered for
    // this point and is passed through, as check_unwindable allowed (docs/cell-memory-ownership.md).
    if (site.value().kind == CallSiteKind::NotCovered)
        return _URC_CONTINUE_UNWIND;
    if (site.value().kind == CallSiteKind::NoLandingPad)
        return _URC_CONTINUE_UNWIND;
    if (!frame.fde.contains(site.value().landing_pad))
        return _URC_FATAL_PHASE2_ERROR;
    context->registers.set(kRax, reinterpret_cast<std::uint64_t>(exception));
    context->registers.set(kRdx, 0);
    context->registers.set(kReturnAddress, site.value().landing_pad);
    return _URC_INSTALL_CONTEXT;
}
