// sha256.cpp: SHA-256 compression in general-purpose registers only (the guest has no SIMD),
// with the message schedule kept in a 16-word ring and rounds unrolled eight at a time.
#include "lib/crypto/sha256.h"

namespace delos::crypto {

namespace {

constexpr std::uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

constexpr std::uint32_t kInitialState[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

inline std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline std::uint32_t load_be32(const std::uint8_t* p)
{
    std::uint32_t word;
    __builtin_memcpy(&word, p, 4);
    return __builtin_bswap32(word);
}

inline void store_be32(std::uint8_t* p, std::uint32_t value)
{
    value = __builtin_bswap32(value);
    __builtin_memcpy(p, &value, 4);
}

inline void store_be64(std::uint8_t* p, std::uint64_t value)
{
    value = __builtin_bswap64(value);
    __builtin_memcpy(p, &value, 8);
}

} // namespace

ErrorOr<Sha256Digest> Sha256Digest::from_bytes(ByteView bytes)
{
    if (bytes.size() != kBytes)
        return Error::make(ErrorCode::Malformed, "sha256 digest must be 32 bytes", bytes.size());
    Sha256Digest digest;
    __builtin_memcpy(digest.bytes, bytes.data(), kBytes);
    return digest;
}

void Sha256::reset()
{
    for (int i = 0; i < 8; ++i)
        m_state[i] = kInitialState[i];
    m_pending_size = 0;
    m_length = 0;
}

// One round; the caller rotates the roles of a..h instead of moving values between them.
#define SHA256_ROUND(a, b, c, d, e, f, g, h, i, w)                                               \
    do {                                                                                         \
        std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + (g ^ (e & (f ^ g)))    \
                           + kRoundConstants[i] + (w);                                           \
        std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) | (c & (a | b))); \
        d += t1;                                                                                 \
        h = t1 + t2;                                                                             \
    } while (0)

// Schedule word i (>= 16) in the ring w[16].
#define SHA256_SCHEDULE(w, i)                                                              \
    (w[(i) & 15] += (rotr(w[((i) - 2) & 15], 17) ^ rotr(w[((i) - 2) & 15], 19)           \
                     ^ (w[((i) - 2) & 15] >> 10))                                          \
                    + w[((i) - 7) & 15]                                                    \
                    + (rotr(w[((i) - 15) & 15], 7) ^ rotr(w[((i) - 15) & 15], 18)         \
                       ^ (w[((i) - 15) & 15] >> 3)))

#define SHA256_EIGHT_ROUNDS(base, word)                                  \
    do {                                                                 \
        SHA256_ROUND(a, b, c, d, e, f, g, h, (base) + 0, word((base) + 0)); \
        SHA256_ROUND(h, a, b, c, d, e, f, g, (base) + 1, word((base) + 1)); \
        SHA256_ROUND(g, h, a, b, c, d, e, f, (base) + 2, word((base) + 2)); \
        SHA256_ROUND(f, g, h, a, b, c, d, e, (base) + 3, word((base) + 3)); \
        SHA256_ROUND(e, f, g, h, a, b, c, d, (base) + 4, word((base) + 4)); \
        SHA256_ROUND(d, e, f, g, h, a, b, c, (base) + 5, word((base) + 5)); \
        SHA256_ROUND(c, d, e, f, g, h, a, b, (base) + 6, word((base) + 6)); \
        SHA256_ROUND(b, c, d, e, f, g, h, a, (base) + 7, word((base) + 7)); \
    } while (0)

void Sha256::compress_blocks(const std::uint8_t* blocks, std::size_t count)
{
    for (; count > 0; --count, blocks += 64) {
        std::uint32_t w[16];
        for (int i = 0; i < 16; ++i)
            w[i] = load_be32(blocks + 4 * i);

        std::uint32_t a = m_state[0], b = m_state[1], c = m_state[2], d = m_state[3];
        std::uint32_t e = m_state[4], f = m_state[5], g = m_state[6], h = m_state[7];

#define SHA256_LOADED(i) w[i]
#define SHA256_SCHEDULED(i) SHA256_SCHEDULE(w, i)
        SHA256_EIGHT_ROUNDS(0, SHA256_LOADED);
        SHA256_EIGHT_ROUNDS(8, SHA256_LOADED);
        SHA256_EIGHT_ROUNDS(16, SHA256_SCHEDULED);
        SHA256_EIGHT_ROUNDS(24, SHA256_SCHEDULED);
        SHA256_EIGHT_ROUNDS(32, SHA256_SCHEDULED);
        SHA256_EIGHT_ROUNDS(40, SHA256_SCHEDULED);
        SHA256_EIGHT_ROUNDS(48, SHA256_SCHEDULED);
        SHA256_EIGHT_ROUNDS(56, SHA256_SCHEDULED);
#undef SHA256_LOADED
#undef SHA256_SCHEDULED

        m_state[0] += a;
        m_state[1] += b;
        m_state[2] += c;
        m_state[3] += d;
        m_state[4] += e;
        m_state[5] += f;
        m_state[6] += g;
        m_state[7] += h;
    }
}

#undef SHA256_EIGHT_ROUNDS
#undef SHA256_SCHEDULE
#undef SHA256_ROUND

void Sha256::update(ByteView data)
{
    const std::uint8_t* input = data.data();
    std::size_t size = data.size();
    m_length += size;

    if (m_pending_size > 0) {
        std::size_t take = 64 - m_pending_size;
        if (take > size)
            take = size;
        __builtin_memcpy(m_pending + m_pending_size, input, take);
        m_pending_size += take;
        input += take;
        size -= take;
        if (m_pending_size < 64)
            return;
        compress_blocks(m_pending, 1);
        m_pending_size = 0;
    }

    // Whole blocks straight from the caller's buffer, no copy.
    std::size_t whole = size / 64;
    if (whole > 0) {
        compress_blocks(input, whole);
        input += whole * 64;
        size -= whole * 64;
    }
    if (size > 0) {
        __builtin_memcpy(m_pending, input, size);
        m_pending_size = size;
    }
}

Sha256Digest Sha256::finish()
{
    // Padding: 0x80, zeros to 56 mod 64, then the message length in bits, big-endian.
    std::uint64_t bit_length = m_length * 8;
    std::uint8_t padding[128] = {0x80};
    std::size_t padding_size = (m_pending_size < 56 ? 56 : 120) - m_pending_size;
    store_be64(padding + padding_size, bit_length);
    update(ByteView(padding, padding_size + 8));

    Sha256Digest digest;
    for (int i = 0; i < 8; ++i)
        store_be32(digest.bytes + 4 * i, m_state[i]);
    reset();
    return digest;
}

Sha256Digest Sha256::digest(ByteView data)
{
    Sha256 hash;
    hash.update(data);
    return hash.finish();
}

} // namespace delos::crypto
