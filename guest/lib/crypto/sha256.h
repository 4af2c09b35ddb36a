// sha256.h: SHA-256 (FIPS 180-4) for freestanding code, fed incrementally; verifies pushed cells.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"

namespace delos::crypto {

struct Sha256Digest {
    static constexpr std::size_t kBytes = 32;
    std::uint8_t bytes[kBytes] = {};

    ByteView view() const { return ByteView(bytes, kBytes); }
    bool operator==(const Sha256Digest& other) const
    {
        return __builtin_memcmp(bytes, other.bytes, kBytes) == 0;
    }
    // Exactly 32 bytes, or an error carrying the length it had.
    static ErrorOr<Sha256Digest> from_bytes(ByteView bytes);
};

// Usage: Sha256 hash; hash.update(a); hash.update(b); Sha256Digest d = hash.finish();
// finish() leaves the object ready for a new message.
class Sha256 {
public:
    Sha256() { reset(); }

    void reset();
    void update(ByteView data);
    void update(const void* data, std::size_t size) { update(ByteView(data, size)); }
    Sha256Digest finish();

    std::uint64_t bytes_hashed() const { return m_length; }

    static Sha256Digest digest(ByteView data);

private:
    void compress_blocks(const std::uint8_t* blocks, std::size_t count);

    std::uint32_t m_state[8];
    std::uint8_t m_pending[64];   // a partial block waiting for more input
    std::size_t m_pending_size;
    std::uint64_t m_length;       // total bytes fed since reset
};

} // namespace delos::crypto
