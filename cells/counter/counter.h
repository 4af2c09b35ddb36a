// counter.h: the counter cell's interface: a demo application that counts named events in the
// kv cell and logs its progress through the log cell.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::kv {
struct WriteGrant;  // kv/kv.h
}

namespace delos::counter {

// Counts one more `event`; returns its new count.
ErrorOr<std::int64_t> count(StringView event);
// The same for a caller that grants the write (a kv::WriteGrant naming "counter/<event>"): a
// count under any other key is refused by kv and changes nothing (docs/state-spill.md).
ErrorOr<std::int64_t> count(const kv::WriteGrant& grant, StringView event);
// The current count of `event` (0 if never counted).
ErrorOr<std::int64_t> value(StringView event);
// counter 0.4.0 only: how many times `event`'s count was written (kv 2.x keeps that).
std::uint64_t writes_of(StringView event);
// Logs every counted event, walking the kv store with a cursor this function owns.
std::uint64_t report();

} // namespace delos::counter
