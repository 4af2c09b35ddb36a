// wire_format.h: protobuf wire-format vocabulary (wire types, tags, zigzag, varint sizes)
// shared by the freestanding reader and writer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace delos::wire {

enum class WireType : std::uint8_t {
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,  // proto2 groups: recognised only to refuse them
    EndGroup = 4,
    Fixed32 = 5,
};

// Field numbers are 1 .. 2^29 - 1 (the tag keeps three bits for the wire type).
inline constexpr std::uint32_t kMaxFieldNumber = (1u << 29) - 1;
// A varint is at most ten bytes: 64 bits in groups of seven.
inline constexpr std::size_t kMaxVarintBytes = 10;

struct FieldTag {
    std::uint32_t field_number = 0;
    WireType wire_type = WireType::Varint;
};

constexpr std::uint32_t make_tag(std::uint32_t field_number, WireType type)
{
    return (field_number << 3) | static_cast<std::uint32_t>(type);
}

// sint32/sint64 mapping: small magnitudes of either sign get short varints.
constexpr std::uint64_t zigzag_encode(std::int64_t value)
{
    return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
constexpr std::int64_t zigzag_decode(std::uint64_t value)
{
    return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

constexpr std::size_t varint_size(std::uint64_t value)
{
    // 1 + floor(log2(value) / 7), with value 0 taking one byte.
    int bits = 64 - __builtin_clzll(value | 1);
    return static_cast<std::size_t>((bits * 9 + 64) / 64);
}

} // namespace delos::wire
