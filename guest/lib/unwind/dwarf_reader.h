// dwarf_reader.h: a bounds-checked cursor over untrusted DWARF bytes (.eh_frame, LSDA): fixed
// integers, LEB128 and the DW_EH_PE pointer encodings, every read saying whether it fitted.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"

namespace delos::unwind {

// DW_EH_PE_*: how .eh_frame and LSDAs encode pointers (value format | application | indirect).
namespace pointer_encoding {
inline constexpr std::uint8_t kAbsolute = 0x00;
inline constexpr std::uint8_t kUleb128 = 0x01;
inline constexpr std::uint8_t kUdata2 = 0x02;
inline constexpr std::uint8_t kUdata4 = 0x03;
inline constexpr std::uint8_t kUdata8 = 0x04;
inline constexpr std::uint8_t kSleb128 = 0x09;
inline constexpr std::uint8_t kSdata2 = 0x0a;
inline constexpr std::uint8_t kSdata4 = 0x0b;
inline constexpr std::uint8_t kSdata8 = 0x0c;
inline constexpr std::uint8_t kPcRelative = 0x10;
inline constexpr std::uint8_t kDataRelative = 0x30;
inline constexpr std::uint8_t kFunctionRelative = 0x40;
inline constexpr std::uint8_t kIndirect = 0x80;
inline constexpr std::uint8_t kOmit = 0xff;
} // namespace pointer_encoding

// Reads from `bytes`, which the running system sees at `address` (for pc-relative pointers).
class DwarfReader {
public:
    DwarfReader(ByteView bytes, std::uint64_t address, std::size_t offset = 0)
        : m_bytes(bytes), m_address(address), m_offset(offset)
    {
    }

    std::size_t offset() const { return m_offset; }
    std::size_t remaining() const { return m_offset <= m_bytes.size() ? m_bytes.size() - m_offset : 0; }
    bool at_end() const { return remaining() == 0; }
    std::uint64_t address_here() const { return m_address + m_offset; }
    ByteView bytes() const { return m_bytes; }

    ErrorOr<void> skip(std::uint64_t count)
    {
        if (count > remaining())
            return Error::make(ErrorCode::Malformed, "DWARF data ends early", m_offset);
        m_offset += static_cast<std::size_t>(count);
        return {};
    }

    template <typename T>
    ErrorOr<T> read()
    {
        auto value = m_bytes.read<T>(m_offset);
        if (value.is_error())
            return Error::make(ErrorCode::Malformed, "DWARF data ends early", m_offset);
        m_offset += sizeof(T);
        return value.release_value();
    }

    ErrorOr<std::uint64_t> read_uleb128()
    {
        std::uint64_t result = 0;
        for (unsigned shift = 0; shift < 70; shift += 7) {
            std::uint8_t byte = TRY(read<std::uint8_t>());
            if (shift < 64)
                result |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if (!(byte & 0x80))
                return result;
        }
        return Error::make(ErrorCode::Malformed, "LEB128 number longer than 10 bytes", m_offset);
    }

    ErrorOr<std::int64_t> read_sleb128()
    {
        std::uint64_t result = 0;
        unsigned shift = 0;
        std::uint8_t byte = 0;
        do {
            if (shift >= 70)
                return Error::make(ErrorCode::Malformed, "LEB128 number longer than 10 bytes", m_offset);
            byte = TRY(read<std::uint8_t>());
            if (shift < 64)
                result |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            shift += 7;
        } while (byte & 0x80);
        if (shift < 64 && (byte & 0x40))
            result |= ~std::uint64_t(0) << shift;
        return static_cast<std::int64_t>(result);
    }

    // A DW_EH_PE-encoded pointer. `function_start` serves DW_EH_PE_funcrel. Indirect pointers are
    // returned as the address of the slot (`indirect` set); the caller reads it with a checked read.
    ErrorOr<std::uint64_t> read_encoded(std::uint8_t encoding, bool* indirect = nullptr, std::uint64_t function_start = 0)
    {
        using namespace pointer_encoding;
        if (encoding == kOmit)
            return Error::make(ErrorCode::Malformed, "read of an omitted pointer");
        std::uint64_t here = address_here();
        std::uint64_t value = 0;
        switch (encoding & 0x0f) {
        case kAbsolute: value = TRY(read<std::uint64_t>()); break;
        case kUleb128: value = TRY(read_uleb128()); break;
        case kUdata2: value = TRY(read<std::uint16_t>()); break;
        case kUdata4: value = TRY(read<std::uint32_t>()); break;
        case kUdata8: value = TRY(read<std::uint64_t>()); break;
        case kSleb128: value = static_cast<std::uint64_t>(TRY(read_sleb128())); break;
        case kSdata2: value = static_cast<std::uint64_t>(static_cast<std::int64_t>(TRY(read<std::int16_t>()))); break;
        case kSdata4: value = static_cast<std::uint64_t>(static_cast<std::int64_t>(TRY(read<std::int32_t>()))); break;
        case kSdata8: value = TRY(read<std::uint64_t>()); break;
        default: return Error::make(ErrorCode::Unsupported, "unknown pointer format", encoding);
        }
        switch (encoding & 0x70) {
        case 0: break;
        case kPcRelative: value += here; break;
        case kFunctionRelative: value += function_start; break;
        default: return Error::make(ErrorCode::Unsupported, "unsupported pointer application", encoding);
        }
        if (encoding & kIndirect) {
            if (!indirect)
                return Error::make(ErrorCode::Unsupported, "indirect pointer where none is allowed", encoding);
            *indirect = true;
        } else if (indirect) {
            *indirect = false;
        }
        return value;
    }

private:
    ByteView m_bytes;
    std::uint64_t m_address;
    std::size_t m_offset;
};

} // namespace delos::unwind
