// kv.cpp (kv 0.0.1, cells/kv.missing): a kv version that exports only put and get, so swapping it
// in for a kv that counter uses must be refused, naming add, next and counter (a test-only object).
#include "kv/kv.h"
#include "kv/kv_state.h"
#include "linker/cell_info.h"

namespace delos::kv {

namespace {

state::EntriesV1 g_entries;

ErrorOr<void*> export_store(StringView)
{
    return static_cast<void*>(new state::EntriesV1(static_cast<state::EntriesV1&&>(g_entries)));
}

ErrorOr<void> adopt_store(StringView, void* handed_over)
{
    auto* entries = static_cast<state::EntriesV1*>(handed_over);
    g_entries = static_cast<state::EntriesV1&&>(*entries);
    delete entries;
    return {};
}

} // namespace

ErrorOr<void> put(StringView key, StringView value)
{
    g_entries.append(state::EntryV1{String(key), String(value)});
    return {};
}

ErrorOr<String> get(StringView key)
{
    for (const state::EntryV1& entry : g_entries) {
        if (entry.key == key)
            return entry.value;
    }
    return Error::make(ErrorCode::NotFound, "no such key");
}

} // namespace delos::kv

DELOS_CELL("kv", "0.0.1", nullptr, nullptr);
DELOS_CELL_STATE("kv.entries/1", delos::kv::export_store, delos::kv::adopt_store, nullptr);
