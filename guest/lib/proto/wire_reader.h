// wire_reader.h: a bounds-checked protobuf wire-format reader over untrusted bytes.
// Every read either succeeds inside the input or returns an error naming the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/proto/wire_format.h"

namespace delos::wire {

class WireReader {
public:
    // `base_offset` is where `bytes` starts inside the outermost message, so errors from a
    // nested reader still name a position in the frame the peer sent.
    explicit WireReader(ByteView bytes, std::size_t base_offset = 0) : m_bytes(bytes), m_base(base_offset) {}

    bool at_end() const { return m_position == m_bytes.size(); }
    std::size_t offset() const { return m_base + m_position; }
    std::size_t remaining() const { return m_bytes.size() - m_position; }

    // A tag with a valid field number (1 .. 2^29-1) and wire type (0..5). Groups are
    // returned as such; callers refuse them.
    ErrorOr<FieldTag> read_tag();
    // At most ten bytes; the tenth may only carry the 64th bit.
    ErrorOr<std::uint64_t> read_varint();
    ErrorOr<std::uint32_t> read_fixed32();
    ErrorOr<std::uint64_t> read_fixed64();
    // The payload of a length-delimited field, as a view into the input (no copy).
    ErrorOr<ByteView> read_length_delimited();
    // Skips the value of a field of this wire type; groups are refused (proto3 has none).
    ErrorOr<void> skip_value(FieldTag tag);

private:
    ErrorOr<std::uint64_t> read_varint_slow();

    ByteView m_bytes;
    std::size_t m_base;
    std::size_t m_position = 0;
};

} // namespace delos::wire
