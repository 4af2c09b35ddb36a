// counter.cpp: the counter cell: event counts live in kv under "counter/<event>"; the cell
// itself keeps only its configuration, so it can be replaced without losing a count.
#include "counter/counter.h"

#include "kv/kv.h"
#include "lib/core/format.h"
#include "linker/cell_info.h"
#include "lib/core/vector.h"
#include "log/log.h"

namespace delos::counter {

namespace {

constexpr StringView kKeyPrefix = "counter/";

// Events counted once at every start; a dynamic initialiser, so it runs as a constructor.
Vector<StringView> g_startup_events = {"boot", "start"};

String key_for(StringView event) { return format("{}{}", kKeyPrefix, event); }

ErrorOr<void> counter_init()
{
    for (StringView event : g_startup_events) {
        std::int64_t total = TRY(count(event));
        log::info("{} #{}", event, total);
    }
    log::info("{} events in the store", report());
    return {};
}

void counter_fini() { log::info("stopping"); }

} // namespace

ErrorOr<std::int64_t> count(StringView event)
{
    String key = key_for(event);
    return kv::add(key.view(), 1);
}

ErrorOr<std::int64_t> count(const kv::WriteGrant& grant, StringView event)
{
    String key = key_for(event);
    return kv::add(grant, key.view(), 1);
}

ErrorOr<std::int64_t> value(StringView event)
{
    String key = key_for(event);
    return kv::add(key.view(), 0);
}

std::uint64_t report()
{
    kv::Cursor cursor;
    String key, count;
    std::uint64_t events = 0;
    while (kv::next(cursor, key, count)) {
        if (!key.view().starts_with(kKeyPrefix))
            continue;
        log::debug("{} = {}", key.view().substr(kKeyPrefix.size()), count);
        ++events;
    }
    return events;
}

} // namespace delos::counter

DELOS_CELL("counter", "0.3.1", delos::counter::counter_init, delos::counter::counter_fini);
