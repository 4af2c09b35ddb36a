// cfi.h: the DWARF call frame information interpreter for x86-64: the row of rules that holds at
// an instruction (from a CIE's and FDE's instructions), and the step that applies it to a
// frame's registers to produce its caller's. Input is untrusted: every loop is bounded by the
// bytes it reads, the remember-state stack and DWARF expressions have fixed limits, and memory
// is only read through a checked callback.
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/unwind/eh_frame.h"

namespace delos::unwind {

// DWARF register numbers on x86-64 (System V psABI), the return address column last.
enum Register : std::uint32_t {
    kRax = 0, kRdx = 1, kRcx = 2, kRbx = 3, kRsi = 4, kRdi = 5, kRbp = 6, kRsp = 7,
    kR8 = 8, kR9, kR10, kR11, kR12, kR13, kR14, kR15,
    kReturnAddress = 16,
};
inline constexpr std::uint32_t kRegisterCount = 17;
inline constexpr std::size_t kRememberStateDepth = 2;  // GCC nests one deep; each level costs a row on the stack
inline constexpr std::size_t kExpressionStackDepth = 32;
inline constexpr std::size_t kExpressionStepLimit = 1024;

// A frame's registers; values[kReturnAddress] is its instruction pointer.
struct RegisterSet {
    std::uint64_t values[kRegisterCount] = {};
    std::uint32_t defined = 0;  // bit r set: values[r] is known

    bool has(std::uint32_t r) const { return r < kRegisterCount && (defined >> r) & 1; }
    void set(std::uint32_t r, std::uint64_t value)
    {
        values[r] = value;
        defined |= 1u << r;
    }
    std::uint64_t ip() const { return values[kReturnAddress]; }
    std::uint64_t sp() const { return values[kRsp]; }
};

// Reads 8 bytes at `address`; false if the address may not be read (the unwind then fails).
struct MemoryAccess {
    bool (*read)(void* context, std::uint64_t address, std::uint64_t& value) = nullptr;
    void* context = nullptr;

    bool read64(std::uint64_t address, std::uint64_t& value) const { return read && read(context, address, value); }
};

enum class RuleKind : std::uint8_t { SameValue, Undefined, Offset, ValueOffset, Register, Expression, ValueExpression };

struct RegisterRule {
    RuleKind kind = RuleKind::SameValue;
    std::uint32_t register_number = 0;
    std::int64_t offset = 0;
    ByteView expression;
};

struct CfaRule {
    bool is_expression = false;
    std::uint32_t register_number = kRsp;
    std::int64_t offset = 0;
    ByteView expression;
};

struct FrameRow {
    CfaRule cfa;
    RegisterRule registers[kRegisterCount];
};

// The rules in force at `pc`, which must lie in the FDE.
ErrorOr<FrameRow> compute_row(const FrameDescriptionEntry& fde, std::uint64_t pc);

// Evaluates a DWARF expression (the subset CFI uses: constants, arithmetic, comparisons,
// branches, breg, deref) with `initial` pushed first when `push_initial`.
ErrorOr<std::uint64_t> evaluate_expression(ByteView expression, const RegisterSet& registers, const MemoryAccess& memory,
                                           bool push_initial, std::uint64_t initial);

struct StepResult {
    RegisterSet caller;
    std::uint64_t cfa = 0;
    bool end_of_stack = false;  // the return address is undefined: this frame is the outermost
};

// Applies `row` (computed for `current.ip()`) to `current`: the caller's registers, its rsp
// being the CFA.
ErrorOr<StepResult> step(const FrameRow& row, std::uint32_t return_address_register, const RegisterSet& current,
                         const MemoryAccess& memory);

} // namespace delos::unwind
