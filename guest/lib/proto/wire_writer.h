// wire_writer.h: writes protobuf wire format into a buffer the caller sized beforehand
// (encoders compute the exact size first, so writing needs no bounds checks or growth).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/proto/wire_format.h"

namespace delos::wire {

class WireWriter {
public:
    explicit WireWriter(std::uint8_t* out) : m_cursor(out) {}

    std::uint8_t* cursor() const { return m_cursor; }

    void write_varint(std::uint64_t value)
    {
        while (value >= 0x80) {
            *m_cursor++ = static_cast<std::uint8_t>(value | 0x80);
            value >>= 7;
        }
        *m_cursor++ = static_cast<std::uint8_t>(value);
    }
    void write_tag(std::uint32_t field_number, WireType type) { write_varint(make_tag(field_number, type)); }
    void write_fixed32(std::uint32_t value)
    {
        __builtin_memcpy(m_cursor, &value, 4);  // little-endian host and guest
        m_cursor += 4;
    }
    void write_fixed64(std::uint64_t value)
    {
        __builtin_memcpy(m_cursor, &value, 8);
        m_cursor += 8;
    }
    void write_bytes(const void* data, std::size_t size)
    {
        if (size > 0)
            __builtin_memcpy(m_cursor, data, size);
        m_cursor += size;
    }
    void write_bytes(ByteView bytes) { write_bytes(bytes.data(), bytes.size()); }

private:
    std::uint8_t* m_cursor;
};

} // namespace delos::wire
