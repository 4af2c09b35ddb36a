// swap_caller.cpp: a test-only cell (NOT_BOOT) that calls counter::count in a loop through its
// GOT, so tests can swap counter under running callers: each call goes to whichever counter the
// GOT slot holds at that moment, and the old one stays retiring while a caller is inside it.
#include "counter/counter.h"
#include "linker/cell_info.h"

namespace delos::swap_caller {

// Counts `event` `times` times; returns how many calls succeeded (stops at the first failure).
std::uint64_t count_many(StringView event, std::uint64_t times)
{
    std::uint64_t counted = 0;
    for (std::uint64_t i = 0; i < times; ++i) {
        if (counter::count(event).is_error())
            break;
        ++counted;
    }
    return counted;
}

} // namespace delos::swap_caller

DELOS_CELL("swap_caller", "1.0.0", nullptr, nullptr);
