// wire_reader.cpp: varint, fixed-width and length-delimited reads that trust no length.
#include "lib/proto/wire_reader.h"

namespace delos::wire {

ErrorOr<std::uint64_t> WireReader::read_varint()
{
    // Fast path: a one-byte varint (tags, small values, short lengths).
    if (m_position < m_bytes.size()) {
        std::uint8_t first = m_bytes.data()[m_position];
        if (first < 0x80) {
            ++m_position;
            return static_cast<std::uint64_t>(first);
        }
    }
    return read_varint_slow();
}

ErrorOr<std::uint64_t> WireReader::read_varint_slow()
{
    std::size_t start = m_position;
    const std::uint8_t* bytes = m_bytes.data();
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
        if (m_position >= m_bytes.size()) {
            m_position = start;
            return Error::make(ErrorCode::Malformed, "varint is truncated", m_base + start);
        }
        std::uint8_t byte = bytes[m_position++];
        if (i == kMaxVarintBytes - 1 && byte > 1) {
            m_position = start;
            // Either a continuation bit on the tenth byte or bits past the 64th.
            return Error::make(ErrorCode::Malformed,
                byte & 0x80 ? "varint is longer than 10 bytes" : "varint overflows 64 bits", m_base + start);
        }
        value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
        if (byte < 0x80)
            return value;
    }
    __builtin_unreachable();  // the tenth byte either returned or failed above
}

ErrorOr<FieldTag> WireReader::read_tag()
{
    std::size_t start = offset();
    std::uint64_t raw = TRY(read_varint());
    if (raw > 0xffffffffu)
        return Error::make(ErrorCode::Malformed, "tag exceeds 32 bits", start);
    std::uint32_t number = static_cast<std::uint32_t>(raw >> 3);
    std::uint32_t type = static_cast<std::uint32_t>(raw & 7);
    if (number == 0)
        return Error::make(ErrorCode::Malformed, "field number 0 is invalid", start);
    if (type > static_cast<std::uint32_t>(WireType::Fixed32))
        return Error::make(ErrorCode::Malformed, "invalid wire type", type);
    return FieldTag{number, static_cast<WireType>(type)};
}

ErrorOr<std::uint32_t> WireReader::read_fixed32()
{
    if (remaining() < 4)
        return Error::make(ErrorCode::Malformed, "fixed32 is truncated", offset());
    std::uint32_t value;
    __builtin_memcpy(&value, m_bytes.data() + m_position, 4);  // little-endian host and guest
    m_position += 4;
    return value;
}

ErrorOr<std::uint64_t> WireReader::read_fixed64()
{
    if (remaining() < 8)
        return Error::make(ErrorCode::Malformed, "fixed64 is truncated", offset());
    std::uint64_t value;
    __builtin_memcpy(&value, m_bytes.data() + m_position, 8);
    m_position += 8;
    return value;
}

ErrorOr<ByteView> WireReader::read_length_delimited()
{
    std::size_t start = offset();
    std::uint64_t length = TRY(read_varint());
    if (length > remaining())
        return Error::make(ErrorCode::Malformed, "length-delimited field runs past the end", start);
    ByteView payload(m_bytes.data() + m_position, static_cast<std::size_t>(length));
    m_position += static_cast<std::size_t>(length);
    return payload;
}

ErrorOr<void> WireReader::skip_value(FieldTag tag)
{
    switch (tag.wire_type) {
    case WireType::Varint:
        TRY(read_varint());
        return {};
    case WireType::Fixed64:
        TRY(read_fixed64());
        return {};
    case WireType::LengthDelimited:
        TRY(read_length_delimited());
        return {};
    case WireType::Fixed32:
        TRY(read_fixed32());
        return {};
    case WireType::StartGroup:
    case WireType::EndGroup:
        break;
    }
    return Error::make(ErrorCode::Unsupported, "groups are not supported", tag.field_number);
}

} // namespace delos::wire
