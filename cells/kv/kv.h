// kv.h: the kv cell's interface: an in-memory key-value store. The store keeps no per-client
// state: a client walking the store holds its own Cursor and passes it with every call, so
// the kv cell can be restarted or replaced without losing anything a client was doing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/string.h"
#include "lib/core/string_view.h"

namespace delos::kv {

inline constexpr std::size_t kMaxKeySize = 256;
inline constexpr std::size_t kMaxValueSize = 4096;
inline constexpr std::size_t kMaxEntries = 65536;

// Where a client is in a walk over the store, in key order. It holds the last key seen, not a
// position, so entries added or removed during the walk never make it skip or repeat one.
struct Cursor {
    String last_key;
    bool started = false;
};

ErrorOr<void> put(StringView key, StringView value);
ErrorOr<String> get(StringView key);
bool erase(StringView key);
std::size_t size();
// Adds `delta` to the decimal number stored under `key` (absent counts as 0); returns the sum.
ErrorOr<std::int64_t> add(StringView key, std::int64_t delta);
// The first entry whose key is greater than the cursor's, or false at the end.
bool next(Cursor& cursor, String& key, String& value);

// Write authority a client hands to a server it calls on its behalf (docs/state-spill.md): the
// server writes through the grant and kv refuses any other key, so a faulty server (a corrupted
// format string, key field or register) cannot store under a key no client owns — state that
// would outlive the server's reload. The grant is the client's: it lives in the client's memory
// and names the one key this call may write.
struct WriteGrant {
    StringView key;
};
// As put/erase/add above, refused with PermissionDenied (nothing changed) unless key == grant.key.
ErrorOr<void> put(const WriteGrant& grant, StringView key, StringView value);
ErrorOr<void> erase(const WriteGrant& grant, StringView key);
ErrorOr<std::int64_t> add(const WriteGrant& grant, StringView key, std::int64_t delta);

// Exported by kv 2.x only (cells/kv.v2): a cell that imports them cannot run on kv 1.x.
// How many times `key` was written since it was created (0 if absent).
std::uint64_t writes(StringView key);
// A banner string inside the kv cell, handed out at run time: the cell counts the banners
// still borrowed and stays in memory after a swap until every one is given back.
const char* borrow_banner();
void return_banner();

} // namespace delos::kv
