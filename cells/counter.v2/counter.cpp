// counter.cpp (counter 0.4.0, cells/counter.v2): the next version of the counter cell, for live
// evolution. Counts still live in kv under "counter/<event>", so a swap keeps every count without
// handing state over; new: writes_of(), which needs kv 2.x's kv::writes (an interface change
// that makes counter 0.4.0 swap in only together with, or after, kv 2.0.0).
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

std::uint64_t writes_of(StringView event)
{
    String key = key_for(event);
    return kv::writes(key.view());
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

DELOS_CELL("counter", "0.4.0", delos::counter::counter_init, delos::counter::counter_fini);
