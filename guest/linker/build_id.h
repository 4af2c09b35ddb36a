// build_id.h: a cell object's build id (the first 20 bytes of its SHA-256, in hex), computed once
// per object where the object enters memory (a push's verified digest, an archive member's first
// use) and carried with it, so loads, swaps, rollbacks and reloads of known bytes do not hash again.
#pragma once

#include <cstddef>

#include "lib/core/byte_view.h"
#include "lib/core/string_view.h"
#include "lib/crypto/sha256.h"

namespace delos::link {

struct BuildId {
    static constexpr std::size_t kDigits = 40;
    char digits[kDigits + 1] = {};

    bool known() const { return digits[0] != 0; }
    StringView view() const { return known() ? StringView(digits, kDigits) : StringView(); }

    // Hashes the object (SHA-256; ~2 ms per MiB on the development host).
    static BuildId of(ByteView object);
    static BuildId from_digest(const crypto::Sha256Digest& digest);
    // `text` when it is exactly 40 lowercase hex digits, else unknown (not trusted blindly: a
    // malformed id is recomputed by whoever needs one).
    static BuildId parse(StringView text);
};

} // namespace delos::link
