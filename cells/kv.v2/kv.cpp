// kv.cpp (kv 2.0.0, cells/kv.v2): a second version of the kv cell for live evolution. Same
// interface as 1.x plus writes() and the banner; it counts writes per entry, so its own state
// layout is "kv.entries/2", and it also speaks 1.x's "kv.entries/1" (both ways) so it can
// replace 1.x and be rolled back to it. Two keys make it fail on purpose, for the tests: with
// "kv.v2.refuse-adopt" in a store handed to it, it refuses to adopt; with "kv.v2.refuse-init",
// its init fails.
#include "kv/kv.h"
#include "kv/granted_writes.h"
#include "kv/kv_state.h"
#include "linker/cell_info.h"
#include "memory/call_ownership.h"
#include "lib/core/vector.h"
#include "log/log.h"

namespace delos::kv {

namespace {

using Entry = state::EntryV2;

Vector<Entry> g_entries;
std::uint64_t g_banners_borrowed = 0;
const char g_banner[] = "kv 2.0.0: sorted entries with write counts";

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
    bool negative = !text.empty() && text[0] == '-';
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
    if (find("kv.v2.refuse-init"))
        return Error::make(ErrorCode::InvalidArgument, "kv 2.0.0 refuses to start on a store holding kv.v2.refuse-init");
    log::info("2.0.0 ready with {} entries", g_entries.size());
    return {};
}

void kv_fini() { log::info("2.0.0 stopping with {} entries", g_entries.size()); }

ErrorOr<void*> export_store(StringView layout)
{
    if (layout == state::kEntriesV2)
        return static_cast<void*>(new state::EntriesV2(static_cast<Vector<Entry>&&>(g_entries)));
    if (layout != state::kEntriesV1)
        return Error::make(ErrorCode::Unsupported, "kv 2.x hands its store over as kv.entries/2 or /1 only");
    // Down to 1.x's layout: the write counts stay behind (1.x does not keep them).
    auto* entries = new state::EntriesV1;
    entries->reserve(g_entries.size());
    for (Entry& entry : g_entries)
        entries->append(state::EntryV1{static_cast<String&&>(entry.key), static_cast<String&&>(entry.value)});
    g_entries.clear();
    return static_cast<void*>(entries);
}

ErrorOr<void> adopt_store(StringView layout, void* handed_over)
{
    if (layout == state::kEntriesV2) {
        auto* entries = static_cast<state::EntriesV2*>(handed_over);
        g_entries = static_cast<Vector<Entry>&&>(*entries);
        delete entries;
        return {};
    }
    if (layout != state::kEntriesV1)
        return Error::make(ErrorCode::Unsupported, "kv 2.x adopts a store as kv.entries/2 or /1 only");
    auto* entries = static_cast<state::EntriesV1*>(handed_over);
    for (const state::EntryV1& entry : *entries) {
        if (entry.key == StringView("kv.v2.refuse-adopt"))
            return Error::make(ErrorCode::InvalidArgument, "kv 2.0.0 refuses a store holding kv.v2.refuse-adopt");  // still the caller's
    }
    g_entries.reserve(entries->size());
    for (state::EntryV1& entry : *entries)
        g_entries.append(Entry{static_cast<String&&>(entry.key), static_cast<String&&>(entry.value), 1});
    delete entries;
    return {};
}

std::uint64_t banners_outstanding() { return g_banners_borrowed; }

} // namespace

ErrorOr<void> put(StringView key, StringView value)
{
    if (key.empty() || key.size() > kMaxKeySize)
        return Error::make(ErrorCode::InvalidArgument, "key must be 1 to 256 bytes", key.size());
    if (value.size() > kMaxValueSize)
        return Error::make(ErrorCode::InvalidArgument, "value must be at most 4096 bytes", value.size());
    if (Entry* existing = find(key)) {
        existing->value = String(value);
        ++existing->writes;
        return {};
    }
    if (g_entries.size() >= kMaxEntries)
        return Error::make(ErrorCode::OutOfMemory, "kv store is full", kMaxEntries);
    std::size_t index = lower_bound(key);
    g_entries.append(Entry{String(key), String(value), 1});
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

std::uint64_t writes(StringView key)
{
    Entry* entry = find(key);
    return entry ? entry->writes : 0;
}

const char* borrow_banner()
{
    ++g_banners_borrowed;
    return g_banner;
}

void return_banner()
{
    if (g_banners_borrowed > 0)
        --g_banners_borrowed;
}

} // namespace delos::kv

DELOS_CELL("kv", "2.0.0", delos::kv::kv_init, delos::kv::kv_fini);
DELOS_CELL_STATE("kv.entries/2,kv.entries/1", delos::kv::export_store, delos::kv::adopt_store, delos::kv::banners_outstanding);
