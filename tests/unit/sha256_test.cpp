// sha256_test.cpp: the freestanding SHA-256 against FIPS 180-2 vectors and OpenSSL, fed in
// every kind of piece, plus its speed on this host.
#include <gtest/gtest.h>

#include <openssl/sha.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "lib/crypto/sha256.h"

using delos::ByteView;
using delos::crypto::Sha256;
using delos::crypto::Sha256Digest;

namespace {

std::string hex(const Sha256Digest& digest)
{
    std::string out;
    char pair[3];
    for (std::uint8_t byte : digest.bytes) {
        std::snprintf(pair, sizeof pair, "%02x", byte);
        out += pair;
    }
    return out;
}

Sha256Digest hash_string(const std::string& text) { return Sha256::digest(ByteView(text.data(), text.size())); }

Sha256Digest openssl_sha256(const std::vector<std::uint8_t>& data)
{
    Sha256Digest digest;
    SHA256(data.data(), data.size(), digest.bytes);
    return digest;
}

} // namespace

TEST(Sha256, Fips180_2Vectors)
{
    EXPECT_EQ(hex(hash_string("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex(hash_string("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // One million 'a', fed in uneven pieces.
    Sha256 hash;
    std::string block(997, 'a');
    std::size_t left = 1000000;
    while (left > 0) {
        std::size_t piece = left < block.size() ? left : block.size();
        hash.update(block.data(), piece);
        left -= piece;
    }
    EXPECT_EQ(hash.bytes_hashed(), 1000000u);
    EXPECT_EQ(hex(hash.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, EmptyAndPaddingBoundaries)
{
    EXPECT_EQ(hex(hash_string("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // Lengths around the 55/56/64-byte padding edges must agree with OpenSSL.
    for (std::size_t length = 0; length <= 200; ++length) {
        std::vector<std::uint8_t> data(length);
        for (std::size_t i = 0; i < length; ++i)
            data[i] = static_cast<std::uint8_t>(i * 7 + length);
        EXPECT_EQ(Sha256::digest(ByteView(data.data(), data.size())), openssl_sha256(data)) << "length " << length;
    }
}

TEST(Sha256, RandomDataInRandomPiecesMatchesOpenSsl)
{
    std::mt19937_64 rng(0x5a256);
    for (int round = 0; round < 200; ++round) {
        std::size_t length = rng() % (round < 100 ? 300 : 70000);
        std::vector<std::uint8_t> data(length);
        for (auto& byte : data)
            byte = static_cast<std::uint8_t>(rng());
        Sha256 hash;
        std::size_t offset = 0;
        while (offset < length) {
            std::size_t piece = std::min<std::size_t>(length - offset, rng() % 150);
            hash.update(data.data() + offset, piece);
            offset += piece;
        }
        EXPECT_EQ(hash.finish(), openssl_sha256(data)) << "round " << round << " length " << length;
    }
}

TEST(Sha256, FinishResetsForTheNextMessage)
{
    Sha256 hash;
    hash.update("garbage", 7);
    (void)hash.finish();
    hash.update("abc", 3);
    EXPECT_EQ(hex(hash.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, DigestFromBytesChecksLength)
{
    std::uint8_t bytes[33] = {1, 2, 3};
    auto digest = Sha256Digest::from_bytes(ByteView(bytes, 32));
    ASSERT_FALSE(digest.is_error());
    EXPECT_EQ(digest.value().bytes[2], 3);
    auto short_digest = Sha256Digest::from_bytes(ByteView(bytes, 31));
    ASSERT_TRUE(short_digest.is_error());
    EXPECT_EQ(short_digest.error().value, 31u);
    EXPECT_TRUE(Sha256Digest::from_bytes(ByteView(bytes, 33)).is_error());
}

// Not a pass/fail figure: prints throughput so regressions are visible in test logs.
TEST(Sha256, ThroughputOnThisHost)
{
    std::vector<std::uint8_t> data(16 << 20);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 31);
    auto start = std::chrono::steady_clock::now();
    Sha256Digest digest = Sha256::digest(ByteView(data.data(), data.size()));
    double ours = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    start = std::chrono::steady_clock::now();
    Sha256Digest reference = openssl_sha256(data);
    double openssl = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(digest, reference);
    double mib = data.size() / (1024.0 * 1024.0);
    std::printf("sha256: %.0f MiB/s (general registers only); OpenSSL on this host: %.0f MiB/s\n", mib / ours,
                mib / openssl);
    // Far below what the push path needs (>= 100 MiB/s) would mean something broke badly.
    EXPECT_GT(mib / ours, 20.0);
}
