// unwinder.h: forced unwinding of the current task's stack with the compiler's exception tables:
// every frame's landing pads (destructors of live locals) run, from the frame that faulted up to
// the stack's outermost frame (a task's entry trampoline, whose CFI ends the walk). The
// compiler's code calls back into it through _Unwind_Resume and __gxx_personality_v0.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/unwind/cfi.h"

// The Itanium C++ ABI's exception header (what landing pads pass to _Unwind_Resume).
struct alignas(16) _Unwind_Exception {
    std::uint64_t exception_class;
    void (*exception_cleanup)(int, _Unwind_Exception*);
    std::uint64_t private_1;
    std::uint64_t private_2;
};

namespace delos::unwinding {

inline constexpr std::size_t kMaxFrames = 256;
inline constexpr std::size_t kMaxLandingPads = 4096;

struct ForcedUnwind;
// Called when the walk has reached the outermost frame, on the unwound stack; must not return.
using UnwindStop = void (*)(ForcedUnwind& unwind);

// One unwind in progress. Must not live on the stack being unwound (landing pads reuse it).
struct ForcedUnwind {
    _Unwind_Exception header{};
    UnwindStop stop = nullptr;
    std::uint64_t stack_low = 0;   // saved registers are read only from [stack_low, stack_high)
    std::uint64_t stack_high = 0;
    std::uint32_t frames = 0;
    std::uint32_t landing_pads = 0;
    void* owner = nullptr;

    // A landing pad that cannot finish (a cleanup faults, or the pad resumes the unwind with a
    // broken context) may be abandoned: the unwind goes on at the caller of the pad's frame, the
    // frame's remaining cleanups not run. Only if `may_abandon(ip of the pad's frame)` says so
    // (fault containment: a cell's frame); without it such a failure panics.
    bool (*may_abandon)(std::uint64_t frame_ip) = nullptr;
    std::uint32_t abandoned_frames = 0;
    // Set when a pad is entered, cleared once the walk has stepped past the pad's frame.
    bool pad_running = false;
    bool pad_frame_outermost = false;   // the pad's frame is the last: abandoning it ends the walk
    std::uint64_t pad_frame_ip = 0;
    unwind::RegisterSet above_pad{};    // the caller of the pad's frame
};

inline constexpr std::uint64_t kFaultExceptionClass = 0x44454c4f53464c54ull;  // "DELOSFLT"

// How the first frame's instruction pointer is read: a faulting instruction (looked up as is) or
// a return address / trap's next instruction (looked up minus one).
enum class FirstFrame : std::uint8_t { FaultingInstruction, ReturnAddress };

// Walks the stack read-only from `registers`, as the unwind would: every frame needs CFI, a
// known personality (or none) and, with an LSDA, a call-site entry covering its instruction
// (none = noexcept = terminate). Returns the number of frames up to the outermost.
// `failing_ip` says where it failed. The first `capacity` frames' instruction pointers (return
// addresses after the first) go to `ips` when given: a backtrace from the CFI.
ErrorOr<std::size_t> check_unwindable(const unwind::RegisterSet& registers, FirstFrame first, std::uint64_t stack_low,
                                      std::uint64_t stack_high, std::uint64_t& failing_ip, std::uint64_t* ips = nullptr,
                                      std::size_t capacity = 0);

// Runs the landing pads of every frame from `registers` outwards and calls `unwind.stop` at the
// outermost frame. A frame that cannot be unwound panics (check_unwindable first).
[[noreturn]] void run_forced_unwind(ForcedUnwind& unwind, const unwind::RegisterSet& registers, FirstFrame first);

// Whether the landing pad running now (entered, its frame not yet stepped past) may be abandoned.
bool can_abandon_landing_pad(const ForcedUnwind& unwind);
// Abandons it (can_abandon_landing_pad first): the unwind goes on at the caller of its frame, or
// ends (unwind.stop) if that frame was the outermost. Runs on the unwound stack, below the pad's frame.
[[noreturn]] void abandon_landing_pad(ForcedUnwind& unwind, const char* why);

} // namespace delos::unwinding
