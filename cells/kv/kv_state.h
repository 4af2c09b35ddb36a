// kv_state.h: the layouts in which versions of the kv cell hand their store to each other during
// a swap (DELOS_CELL_STATE). A layout, once published, never changes; a new one gets a new name.
#pragma once

#include <cstdint>

#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::kv::state {

// "kv.entries/1": every entry, sorted by key, as an owned Vector<EntryV1>* on the kernel heap.
inline constexpr StringView kEntriesV1 = "kv.entries/1";
struct EntryV1 {
    String key;
    String value;
};
using EntriesV1 = Vector<EntryV1>;

// "kv.entries/2": as /1, plus how many times each entry was written (kv 2.x keeps that).
inline constexpr StringView kEntriesV2 = "kv.entries/2";
struct EntryV2 {
    String key;
    String value;
    std::uint64_t writes = 0;
};
using EntriesV2 = Vector<EntryV2>;

} // namespace delos::kv::state
