// kv.cpp: the kv cell: a sorted array of entries, binary-searched by key.
#include "kv/kv.h"
#include "kv/granted_writes.h"

#include "linker/cell_info.h"
#include "memory/call_ownership.h"
#include "lib/core/vector.h"
#include "kv/kv_state.h"
#include "log/log.h"

namespace delos::kv {

namespace {

// The store's own layout is the published "kv.entries/1", so handing it over is a move.
using Entry = state::EntryV1;

// The store is the cell's own state; it lives as long as the cell (its destructor runs on unload).
Vector<Entry> g_entries;

// Index of the first entry whose key is not less than `key`.
std::size_t lower_bound(StringView key)
{
    std::size_t low = 0, high = g_entries.size();
    while (low < high) {
        std::size_t middle = low + (high - low) / 2;
        if (g_entries[middle].key.view().compare(key) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

Entry* find(StringView key)
{
    std::size_t index = lower_bound(key);
    if (index < g_entries.size() && g_entries[index].key == key)
        return &g_entries[index];
    return nullptr;
}

ErrorOr<std::int64_t> parse_decimal(StringView text)
{
    if (text.empty())
        return Error::make(ErrorCode::InvalidArgument, "stored value is not a decimal number");
    bool negative = text[0] == '-';
    std::size_t i = negative ? 1 : 0;
    if (i == text.size())
        return Error::make(ErrorCode::InvalidArgument, "stored value is not a decimal number");
    std::uint64_t magnitude = 0;
    for (; i < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9')
            return Error::make(ErrorCode::InvalidArgument, "stored value is not a decimal number");
        magnitude = magnitude * 10 + static_cast<std::uint64_t>(text[i] - '0');
        if (magnitude > (std::uint64_t(1) << 62))
            return Error::make(ErrorCode::Overflow, "stored number is too large");
    }
    return negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
}

ErrorOr<void> kv_init()
{
    log::info("ready (up to {} entries)", kMaxEntries);
    return {};
}

void kv_fini()
{
    log::info("stopping with {} entries", g_entries.size());
}

// Live evolution: the whole store leaves with the old version and arrives in the new one.
ErrorOr<void*> export_store(StringView layout)
{
    if (layout != state::kEntriesV1)
        return Error::make(ErrorCode::Unsupported, "kv 1.x hands its store over only as kv.entries/1");
    return static_cast<void*>(new state::EntriesV1(static_cast<Vector<Entry>&&>(g_entries)));
}

ErrorOr<void> adopt_store(StringView layout, void* handed_over)
{
    if (layout != state::kEntriesV1)
        return Error::make(ErrorCode::Unsupported, "kv 1.x adopts a store only as kv.entries/1");
    auto* entries = static_cast<state::EntriesV1*>(handed_over);
    g_entries = static_cast<Vector<Entry>&&>(*entries);
    delete entries;
    return {};
}

} // namespace

ErrorOr<void> put(StringView key, StringView value)
{
    if (key.empty() || key.size() > kMaxKeySize)
        return Error::make(ErrorCode::InvalidArgument, "key must be 1 to 256 bytes", key.size());
    if (value.size() > kMaxValueSize)
        return Error::make(ErrorCode::InvalidArgument, "value must be at most 4096 bytes", value.size());
    if (Entry* existing = find(key)) {
        existing->value = String(value);
        return {};
    }
    if (g_entries.size() >= kMaxEntries)
        return Error::make(ErrorCode::OutOfMemory, "kv store is full", kMaxEntries);
    // Append, then rotate the new entry back into its sorted place.
    std::size_t index = lower_bound(key);
    g_entries.append(Entry{String(key), String(value)});
    for (std::size_t i = g_entries.size() - 1; i > index; --i) {
        Entry moved = static_cast<Entry&&>(g_entries[i - 1]);
        g_entries[i - 1] = static_cast<Entry&&>(g_entries[i]);
        g_entries[i] = static_cast<Entry&&>(moved);
    }
    return {};
}

ErrorOr<String> get(StringView key)
{
    if (Entry* entry = find(key)) {
        // The copy is the caller's alone: charged to the caller's open call, if it is in one
        // (memory/call_ownership.h), so a fault that skips its destructor there leaks nothing.
        String value = entry->value;
        memory::charge_returned_object(value.data(), __builtin_return_address(0));
        return value;
    }
    return Error::make(ErrorCode::NotFound, "no such key");
}

bool erase(StringView key)
{
    std::size_t index = lower_bound(key);
    if (index == g_entries.size() || !(g_entries[index].key == key))
        return false;
    g_entries.remove(index);
    return true;
}

std::size_t size() { return g_entries.size(); }

ErrorOr<std::int64_t> add(StringView key, std::int64_t delta)
{
    std::int64_t current = 0;
    if (Entry* entry = find(key))
        current = TRY(parse_decimal(entry->value.view()));
    std::int64_t sum = 0;
    if (__builtin_add_overflow(current, delta, &sum))
        return Error::make(ErrorCode::Overflow, "counter would overflow", static_cast<std::uint64_t>(current));
    TRY(put(key, format("{}", sum).view()));
    return sum;
}

bool next(Cursor& cursor, String& key, String& value)
{
    std::size_t index = cursor.started ? lower_bound(cursor.last_key.view()) : 0;
    if (cursor.started && index < g_entries.size() && g_entries[index].key == cursor.last_key.view())
        ++index;
    if (index >= g_entries.size())
        return false;
    key = g_entries[index].key;
    value = g_entries[index].value;
    cursor.last_key = key;
    cursor.started = true;
    return true;
}

} // namespace delos::kv

DELOS_CELL("kv", "1.2.0", delos::kv::kv_init, delos::kv::kv_fini);
DELOS_CELL_STATE("kv.entries/1", delos::kv::export_store, delos::kv::adopt_store, nullptr);
