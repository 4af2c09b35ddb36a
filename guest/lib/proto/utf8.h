// utf8.h: UTF-8 validation (RFC 3629) for proto3 string fields, which both ends must keep
// valid: libprotobuf refuses a whole message whose string field is not UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>

namespace delos::wire {

// True when bytes are well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_valid_utf8(const char* data, std::size_t size);

// Length of the valid UTF-8 sequence starting at data[0] (1..4), or 0 if none starts there.
std::size_t utf8_sequence_length(const std::uint8_t* data, std::size_t size);

// Copies `size` bytes to `out`, replacing each byte that is not part of a valid sequence with
// '?'. The output has the input's length, so encoders can size before they sanitise.
void copy_as_valid_utf8(std::uint8_t* out, const char* data, std::size_t size);

} // namespace delos::wire
