// build_id.cpp: build ids from object bytes or a digest already computed.
#include "linker/build_id.h"

namespace delos::link {

BuildId BuildId::from_digest(const crypto::Sha256Digest& digest)
{
    constexpr char kHex[] = "0123456789abcdef";
    BuildId id;
    for (std::size_t i = 0; i < kDigits / 2; ++i) {
        id.digits[2 * i] = kHex[digest.bytes[i] >> 4];
        id.digits[2 * i + 1] = kHex[digest.bytes[i] & 15];
    }
    return id;
}

BuildId BuildId::of(ByteView object) { return from_digest(crypto::Sha256::digest(object)); }

BuildId BuildId::parse(StringView text)
{
    BuildId id;
    if (text.size() != kDigits)
        return id;
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return id;
    }
    __builtin_memcpy(id.digits, text.data(), kDigits);
    return id;
}

} // namespace delos::link
