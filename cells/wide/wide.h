// wide.h: the wide cell's interface: a test-only cell (NOT_BOOT) of about 64 KiB of loaded code
// and data with three dependents (wide_user_a/b/c), the unit delos-bench-swap swaps.
#pragma once

#include <cstdint>

namespace delos::wide {

// A value mixed through the cell's 60 KiB table (version-specific).
std::uint64_t mix(std::uint64_t value);
// 1 for wide 1.x, 2 for wide 2.x.
std::uint64_t version_tag();

} // namespace delos::wide
