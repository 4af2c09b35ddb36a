// utf8.cpp: byte-by-byte UTF-8 checking with an ASCII fast path (strings here are mostly ASCII).
#include "lib/proto/utf8.h"

namespace delos::wire {

std::size_t utf8_sequence_length(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::uint8_t lead = data[0];
    if (lead < 0x80)
        return 1;
    // Lead byte: sequence length and the allowed range of the second byte, which is where
    // overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and values past U+10FFFF
    // (F4 90..BF) are excluded.
    std::size_t length;
    std::uint8_t second_min = 0x80, second_max = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0)
            second_min = 0xa0;
        else if (lead == 0xed)
            second_max = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0)
            second_min = 0x90;
        else if (lead == 0xf4)
            second_max = 0x8f;
    } else {
        return 0;  // continuation byte, C0/C1 (always overlong) or F5..FF
    }
    if (size < length)
        return 0;
    if (data[1] < second_min || data[1] > second_max)
        return 0;
    for (std::size_t i = 2; i < length; ++i) {
        if ((data[i] & 0xc0) != 0x80)
            return 0;
    }
    return length;
}

bool is_valid_utf8(const char* data, std::size_t size)
{
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
    std::size_t i = 0;
    while (i < size) {
        if (bytes[i] < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = utf8_sequence_length(bytes + i, size - i);
        if (length == 0)
            return false;
        i += length;
    }
    return true;
}

void copy_as_valid_utf8(std::uint8_t* out, const char* data, std::size_t size)
{
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
    std::size_t i = 0;
    while (i < size) {
        std::size_t length = utf8_sequence_length(bytes + i, size - i);
        if (length == 0) {
            out[i++] = '?';
            continue;
        }
        for (std::size_t k = 0; k < length; ++k, ++i)
            out[i] = bytes[i];
    }
}

} // namespace delos::wire
