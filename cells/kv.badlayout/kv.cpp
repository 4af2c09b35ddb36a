// kv.cpp (kv 9.0.0, cells/kv.badlayout): a kv version whose state layout no other kv version
// speaks, so swapping it in must be refused before anything changes (a test-only object).
#include "lib/core/error_or.h"
#include "linker/cell_info.h"
#include "lib/core/string_view.h"

namespace {

delos::ErrorOr<void*> export_store(delos::StringView)
{
    return delos::Error::make(delos::ErrorCode::Unsupported, "kv 9.0.0 has no store to hand over");
}

delos::ErrorOr<void> adopt_store(delos::StringView, void*)
{
    return delos::Error::make(delos::ErrorCode::Unsupported, "kv 9.0.0 adopts only kv.entries/9");
}

} // namespace

DELOS_CELL("kv", "9.0.0", nullptr, nullptr);
DELOS_CELL_STATE("kv.entries/9", export_store, adopt_store, nullptr);
