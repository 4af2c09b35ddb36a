// cfi.cpp: executing CFA instructions up to an address, DWARF expressions, and the frame step.
#include "lib/unwind/cfi.h"

#include "lib/unwind/dwarf_reader.h"

namespace delos::unwind {

namespace {

// DW_CFA_* opcodes.
enum : std::uint8_t {
    kAdvanceLoc = 0x40, kOffset = 0x80, kRestore = 0xc0,
    kNop = 0x00, kSetLoc = 0x01, kAdvanceLoc1 = 0x02, kAdvanceLoc2 = 0x03, kAdvanceLoc4 = 0x04,
    kOffsetExtended = 0x05, kRestoreExtended = 0x06, kUndefined = 0x07, kSameValue = 0x08,
    kRegister = 0x09, kRememberState = 0x0a, kRestoreState = 0x0b, kDefCfa = 0x0c,
    kDefCfaRegister = 0x0d, kDefCfaOffset = 0x0e, kDefCfaExpression = 0x0f, kExpression = 0x10,
    kOffsetExtendedSf = 0x11, kDefCfaSf = 0x12, kDefCfaOffsetSf = 0x13, kValOffset = 0x14,
    kValOffsetSf = 0x15, kValExpression = 0x16, kGnuArgsSize = 0x2e, kGnuNegativeOffsetExtended = 0x2f,
};

// factor * value with two's-complement wrap-around: hostile factors must not overflow (UB).
std::int64_t scaled(std::uint64_t value, std::int64_t factor)
{
    return static_cast<std::int64_t>(value * static_cast<std::uint64_t>(factor));
}

struct Interpreter {
    const FrameDescriptionEntry& fde;
    std::uint64_t target_pc;
    FrameRow row;
    FrameRow initial;
    FrameRow remembered[kRememberStateDepth];
    std::size_t remembered_count = 0;

    // Rules for registers outside 0..16 (vector registers we never restore) are read and dropped.
    RegisterRule* rule(std::uint64_t r) { return r < kRegisterCount ? &row.registers[r] : nullptr; }

    ErrorOr<std::uint32_t> cfa_register(std::uint64_t r)
    {
        if (r >= kRegisterCount || r == kReturnAddress)
            return Error::make(ErrorCode::Unsupported, "CFA based on an unknown register", r);
        return static_cast<std::uint32_t>(r);
    }

    ErrorOr<ByteView> block(DwarfReader& reader)
    {
        std::uint64_t length = TRY(reader.read_uleb128());
        if (length > reader.remaining())
            return Error::make(ErrorCode::Malformed, "CFI expression runs past its instructions", length);
        ByteView view = TRY(reader.bytes().slice(reader.offset(), length));
        TRY(reader.skip(length));
        return view;
    }

    // Runs `instructions`; returns true when the location passed the target (stop).
    ErrorOr<bool> run(ByteView instructions, std::uint64_t& location, bool in_cie)
    {
        const CommonInformationEntry& cie = fde.cie;
        DwarfReader reader(instructions, 0);
        while (!reader.at_end()) {
            std::uint8_t opcode = TRY(reader.read<std::uint8_t>());
            std::uint8_t operand = opcode & 0x3f;
            std::uint64_t advance = 0;
            bool advancing = false;
            switch (opcode & 0xc0) {
            case kAdvanceLoc:
                advance = operand;
                advancing = true;
                break;
            case kOffset: {
                std::uint64_t factored = TRY(reader.read_uleb128());
                if (RegisterRule* r = rule(operand))
                    *r = {RuleKind::Offset, 0, scaled(factored, cie.data_alignment), {}};
                continue;
            }
            case kRestore:
                if (RegisterRule* r = rule(operand))
                    *r = initial.registers[operand];
                continue;
            default: break;
            }
            if (!advancing) {
                switch (opcode) {
                case kNop: continue;
                case kSetLoc: {
                    if (in_cie)
                        return Error::make(ErrorCode::Malformed, "DW_CFA_set_loc in a CIE");
                    std::uint64_t new_location = TRY(reader.read_encoded(cie.fde_pointer_encoding & 0x0f));
                    if (new_location < location)
                        return Error::make(ErrorCode::Malformed, "DW_CFA_set_loc moves backwards", new_location);
                    if (new_location > target_pc)
                        return true;
                    location = new_location;
                    continue;
                }
                case kAdvanceLoc1: advance = TRY(reader.read<std::uint8_t>()); advancing = true; break;
                case kAdvanceLoc2: advance = TRY(reader.read<std::uint16_t>()); advancing = true; break;
                case kAdvanceLoc4: advance = TRY(reader.read<std::uint32_t>()); advancing = true; break;
                case kOffsetExtended:
                case kOffsetExtendedSf:
                case kValOffset:
                case kValOffsetSf:
                case kGnuNegativeOffsetExtended: {
                    std::uint64_t r = TRY(reader.read_uleb128());
                    std::int64_t offset;
                    if (opcode == kOffsetExtendedSf || opcode == kValOffsetSf)
                        offset = scaled(static_cast<std::uint64_t>(TRY(reader.read_sleb128())), cie.data_alignment);
                    else if (opcode == kGnuNegativeOffsetExtended)
                        offset = scaled(0 - TRY(reader.read_uleb128()), cie.data_alignment);
                    else
                        offset = scaled(TRY(reader.read_uleb128()), cie.data_alignment);
                    RuleKind kind = (opcode == kValOffset || opcode == kValOffsetSf) ? RuleKind::ValueOffset : RuleKind::Offset;
                    if (RegisterRule* rr = rule(r))
                        *rr = {kind, 0, offset, {}};
                    continue;
                }
                case kRestoreExtended: {
                    std::uint64_t r = TRY(reader.read_uleb128());
                    if (RegisterRule* rr = rule(r))
                        *rr = initial.registers[r];
                    continue;
                }
                case kUndefined:
                case kSameValue: {
                    std::uint64_t r = TRY(reader.read_uleb128());
                    if (RegisterRule* rr = rule(r))
                        *rr = {opcode == kUndefined ? RuleKind::Undefined : RuleKind::SameValue, 0, 0, {}};
                    continue;
                }
                case kRegister: {
                    std::uint64_t r = TRY(reader.read_uleb128());
                    std::uint64_t source = TRY(reader.read_uleb128());
                    if (RegisterRule* rr = rule(r)) {
                        if (source >= kRegisterCount)
                            return Error::make(ErrorCode::Unsupported, "DW_CFA_register from an unknown register", source);
                        *rr = {RuleKind::Register, static_cast<std::uint32_t>(source), 0, {}};
                    }
                    continue;
                }
                case kRememberState:
                    if (remembered_count == kRememberStateDepth)
                        return Error::make(ErrorCode::Unsupported, "DW_CFA_remember_state nested too deeply");
                    remembered[remembered_count++] = row;
                    continue;
                case kRestoreState:
                    if (remembered_count == 0)
                        return Error::make(ErrorCode::Malformed, "DW_CFA_restore_state without remember_state");
                    row = remembered[--remembered_count];
                    continue;
                case kDefCfa: {
                    std::uint32_t r = TRY(cfa_register(TRY(reader.read_uleb128())));
                    std::uint64_t offset = TRY(reader.read_uleb128());
                    row.cfa = {false, r, static_cast<std::int64_t>(offset), {}};
                    continue;
                }
                case kDefCfaSf: {
                    std::uint32_t r = TRY(cfa_register(TRY(reader.read_uleb128())));
                    std::int64_t offset = scaled(static_cast<std::uint64_t>(TRY(reader.read_sleb128())), cie.data_alignment);
                    row.cfa = {false, r, offset, {}};
                    continue;
                }
                case kDefCfaRegister: {
                    std::uint32_t r = TRY(cfa_register(TRY(reader.read_uleb128())));
                    if (row.cfa.is_expression)
                        return Error::make(ErrorCode::Malformed, "DW_CFA_def_cfa_register after a CFA expression");
                    row.cfa.register_number = r;
                    continue;
                }
                case kDefCfaOffset:
                case kDefCfaOffsetSf: {
                    std::int64_t offset = opcode == kDefCfaOffset ? static_cast<std::int64_t>(TRY(reader.read_uleb128()))
                                                                  : scaled(static_cast<std::uint64_t>(TRY(reader.read_sleb128())), cie.data_alignment);
                    if (row.cfa.is_expression)
                        return Error::make(ErrorCode::Malformed, "DW_CFA_def_cfa_offset after a CFA expression");
                    row.cfa.offset = offset;
                    continue;
                }
                case kDefCfaExpression: {
                    ByteView expression = TRY(block(reader));
                    row.cfa = {true, 0, 0, expression};
                    continue;
                }
                case kExpression:
                case kValExpression: {
                    std::uint64_t r = TRY(reader.read_uleb128());
                    ByteView expression = TRY(block(reader));
                    if (RegisterRule* rr = rule(r))
                        *rr = {opcode == kExpression ? RuleKind::Expression : RuleKind::ValueExpression, 0, 0, expression};
                    continue;
                }
                case kGnuArgsSize: (void)TRY(reader.read_uleb128()); continue;
                default: return Error::make(ErrorCode::Unsupported, "unknown CFI opcode", opcode);
                }
            }
            if (in_cie)
                return Error::make(ErrorCode::Malformed, "location advance in a CIE");
            std::uint64_t delta = advance * cie.code_alignment;
            if (cie.code_alignment != 0 && delta / cie.code_alignment != advance)
                return Error::make(ErrorCode::Malformed, "location advance overflows");
            if (delta > target_pc - location)
                return true;  // the next row starts after the target: this row holds there
            location += delta;
        }
        return false;
    }
};

} // namespace

ErrorOr<FrameRow> compute_row(const FrameDescriptionEntry& fde, std::uint64_t pc)
{
    if (!fde.contains(pc))
        return Error::make(ErrorCode::OutOfRange, "address outside the FDE", pc);
    // Large (a few KiB): kept off deep call chains by living in one place.
    Interpreter interpreter{fde, pc, {}, {}, {}, 0};
    std::uint64_t location = fde.pc_begin;
    TRY(interpreter.run(fde.cie.initial_instructions, location, true));
    interpreter.initial = interpreter.row;
    interpreter.remembered_count = 0;
    TRY(interpreter.run(fde.instructions, location, false));
    return interpreter.row;
}

ErrorOr<std::uint64_t> evaluate_expression(ByteView expression, const RegisterSet& registers, const MemoryAccess& memory,
                                           bool push_initial, std::uint64_t initial)
{
    std::uint64_t stack[kExpressionStackDepth];
    std::size_t depth = 0;
    auto push = [&](std::uint64_t value) -> ErrorOr<void> {
        if (depth == kExpressionStackDepth)
            return Error::make(ErrorCode::Unsupported, "DWARF expression stack overflow");
        stack[depth++] = value;
        return {};
    };
    auto pop = [&]() -> ErrorOr<std::uint64_t> {
        if (depth == 0)
            return Error::make(ErrorCode::Malformed, "DWARF expression stack underflow");
        return stack[--depth];
    };
    auto reg = [&](std::uint64_t r) -> ErrorOr<std::uint64_t> {
        if (!registers.has(static_cast<std::uint32_t>(r)))
            return Error::make(ErrorCode::Unsupported, "DWARF expression reads an unknown register", r);
        return registers.values[r];
    };
    if (push_initial)
        TRY(push(initial));
    DwarfReader reader(expression, 0);
    for (std::size_t steps = 0; !reader.at_end(); ++steps) {
        if (steps == kExpressionStepLimit)
            return Error::make(ErrorCode::Unsupported, "DWARF expression runs too long");
        std::uint8_t op = TRY(reader.read<std::uint8_t>());
        if (op >= 0x30 && op <= 0x4f) {  // lit0..31
            TRY(push(op - 0x30u));
            continue;
        }
        if (op >= 0x70 && op <= 0x8f) {  // breg0..31
            std::uint64_t base = TRY(reg(op - 0x70u));
            TRY(push(base + static_cast<std::uint64_t>(TRY(reader.read_sleb128()))));
            continue;
        }
        switch (op) {
        case 0x03: TRY(push(TRY(reader.read<std::uint64_t>()))); break;  // addr
        case 0x06: {  // deref
            std::uint64_t address = TRY(pop()), value = 0;
            if (!memory.read64(address, value))
                return Error::make(ErrorCode::OutOfRange, "DWARF expression reads unreadable memory", address);
            TRY(push(value));
            break;
        }
        case 0x08: TRY(push(TRY(reader.read<std::uint8_t>()))); break;
        case 0x09: TRY(push(static_cast<std::uint64_t>(static_cast<std::int64_t>(TRY(reader.read<std::int8_t>()))))); break;
        case 0x0a: TRY(push(TRY(reader.read<std::uint16_t>()))); break;
        case 0x0b: TRY(push(static_cast<std::uint64_t>(static_cast<std::int64_t>(TRY(reader.read<std::int16_t>()))))); break;
        case 0x0c: TRY(push(TRY(reader.read<std::uint32_t>()))); break;
        case 0x0d: TRY(push(static_cast<std::uint64_t>(static_cast<std::int64_t>(TRY(reader.read<std::int32_t>()))))); break;
        case 0x0e:
        case 0x0f: TRY(push(TRY(reader.read<std::uint64_t>()))); break;
        case 0x10: TRY(push(TRY(reader.read_uleb128()))); break;
        case 0x11: TRY(push(static_cast<std::uint64_t>(TRY(reader.read_sleb128())))); break;
        case 0x12: {  // dup
            std::uint64_t top = TRY(pop());
            TRY(push(top));
            TRY(push(top));
            break;
        }
        case 0x13: (void)TRY(pop()); break;  // drop
        case 0x14:                           // over
            if (depth < 2)
                return Error::make(ErrorCode::Malformed, "DWARF expression stack underflow");
            TRY(push(stack[depth - 2]));
            break;
        case 0x15: {  // pick
            std::uint8_t index = TRY(reader.read<std::uint8_t>());
            if (index >= depth)
                return Error::make(ErrorCode::Malformed, "DW_OP_pick past the stack", index);
            TRY(push(stack[depth - 1 - index]));
            break;
        }
        case 0x16: {  // swap
            std::uint64_t a = TRY(pop()), b = TRY(pop());
            TRY(push(a));
            TRY(push(b));
            break;
        }
        case 0x17: {  // rot
            std::uint64_t a = TRY(pop()), b = TRY(pop()), c = TRY(pop());
            TRY(push(a));
            TRY(push(c));
            TRY(push(b));
            break;
        }
        case 0x19: {  // abs
            auto value = static_cast<std::int64_t>(TRY(pop()));
            TRY(push(value < 0 ? 0 - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value)));
            break;
        }
        case 0x1f: TRY(push(0 - TRY(pop()))); break;   // neg
        case 0x20: TRY(push(~TRY(pop()))); break;      // not
        case 0x23: TRY(push(TRY(pop()) + TRY(reader.read_uleb128()))); break;  // plus_uconst
        case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x21: case 0x22:
        case 0x24: case 0x25: case 0x26: case 0x27:
        case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e: {
            std::uint64_t b = TRY(pop()), a = TRY(pop());
            auto sa = static_cast<std::int64_t>(a), sb = static_cast<std::int64_t>(b);
            std::uint64_t result = 0;
            switch (op) {
            case 0x1a: result = a & b; break;
            case 0x1b:
                if (b == 0 || (sa == INT64_MIN && sb == -1))
                    return Error::make(ErrorCode::Malformed, "DWARF expression divides by zero");
                result = static_cast<std::uint64_t>(sa / sb);
                break;
            case 0x1c: result = a - b; break;
            case 0x1d:
                if (b == 0)
                    return Error::make(ErrorCode::Malformed, "DWARF expression divides by zero");
                result = a % b;
                break;
            case 0x1e: result = a * b; break;
            case 0x21: result = a | b; break;
            case 0x22: result = a + b; break;
            case 0x24: result = b >= 64 ? 0 : a << b; break;
            case 0x25: result = b >= 64 ? 0 : a >> b; break;
            case 0x26: result = static_cast<std::uint64_t>(sa >> (b >= 63 ? 63 : b)); break;
            case 0x27: result = a ^ b; break;
            case 0x29: result = sa == sb; break;
            case 0x2a: result = sa >= sb; break;
            case 0x2b: result = sa > sb; break;
            case 0x2c: result = sa <= sb; break;
            case 0x2d: result = sa < sb; break;
            case 0x2e: result = sa != sb; break;
            }
            TRY(push(result));
            break;
        }
        case 0x2f:    // skip
        case 0x28: {  // bra
            std::int16_t delta = TRY(reader.read<std::int16_t>());
            if (op == 0x28 && TRY(pop()) == 0)
                break;
            std::int64_t target = static_cast<std::int64_t>(reader.offset()) + delta;
            if (target < 0 || static_cast<std::uint64_t>(target) > expression.size())
                return Error::make(ErrorCode::Malformed, "DWARF expression branches outside itself");
            reader = DwarfReader(expression, 0, static_cast<std::size_t>(target));
            break;
        }
        case 0x92: {  // bregx
            std::uint64_t base = TRY(reg(TRY(reader.read_uleb128())));
            TRY(push(base + static_cast<std::uint64_t>(TRY(reader.read_sleb128()))));
            break;
        }
        case 0x96: break;  // nop
        default: return Error::make(ErrorCode::Unsupported, "DWARF expression operation", op);
        }
    }
    return TRY(pop());
}

ErrorOr<StepResult> step(const FrameRow& row, std::uint32_t return_address_register, const RegisterSet& current,
                         const MemoryAccess& memory)
{
    if (return_address_register >= kRegisterCount)
        return Error::make(ErrorCode::Unsupported, "return address column", return_address_register);
    StepResult result;
    if (row.cfa.is_expression) {
        result.cfa = TRY(evaluate_expression(row.cfa.expression, current, memory, false, 0));
    } else {
        if (!current.has(row.cfa.register_number))
            return Error::make(ErrorCode::Unsupported, "CFA register has no known value", row.cfa.register_number);
        result.cfa = current.values[row.cfa.register_number] + static_cast<std::uint64_t>(row.cfa.offset);
    }
    for (std::uint32_t r = 0; r < kRegisterCount; ++r) {
        const RegisterRule& rule = row.registers[r];
        std::uint64_t value = 0;
        switch (rule.kind) {
        case RuleKind::SameValue:
            if (current.has(r))
                result.caller.set(r, current.values[r]);
            continue;
        case RuleKind::Undefined: continue;
        case RuleKind::Offset: {
            std::uint64_t address = result.cfa + static_cast<std::uint64_t>(rule.offset);
            if (!memory.read64(address, value))
                return Error::make(ErrorCode::OutOfRange, "saved register lies in unreadable memory", address);
            break;
        }
        case RuleKind::ValueOffset: value = result.cfa + static_cast<std::uint64_t>(rule.offset); break;
        case RuleKind::Register:
            if (!current.has(rule.register_number))
                continue;
            value = current.values[rule.register_number];
            break;
        case RuleKind::Expression: {
            std::uint64_t address = TRY(evaluate_expression(rule.expression, current, memory, true, result.cfa));
            if (!memory.read64(address, value))
                return Error::make(ErrorCode::OutOfRange, "saved register lies in unreadable memory", address);
            break;
        }
        case RuleKind::ValueExpression:
            value = TRY(evaluate_expression(rule.expression, current, memory, true, result.cfa));
            break;
        }
        result.caller.set(r, value);
    }
    // The caller's return address is where this frame returns to: its instruction pointer.
    if (row.registers[return_address_register].kind == RuleKind::Undefined) {
        result.end_of_stack = true;
        result.caller.defined &= ~(1u << kReturnAddress);
    } else if (return_address_register != kReturnAddress) {
        if (!result.caller.has(return_address_register))
            return Error::make(ErrorCode::Unsupported, "return address has no known value");
        result.caller.set(kReturnAddress, result.caller.values[return_address_register]);
    } else if (!result.caller.has(kReturnAddress)) {
        return Error::make(ErrorCode::Unsupported, "return address has no known value");
    }
    result.caller.set(kRsp, result.cfa);
    return result;
}

} // namespace delos::unwind
