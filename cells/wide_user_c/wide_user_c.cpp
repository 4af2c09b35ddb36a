// wide_user_c.cpp: one of the three test-only dependents of the wide cell (delos-bench-swap):
// calls into wide through its GOT, so every swap of wide re-points it.
#include "linker/cell_info.h"
#include "wide/wide.h"

namespace delos::wide_user_c {

std::uint64_t run(std::uint64_t value) { return wide::mix(value) + wide::version_tag(); }

} // namespace delos::wide_user_c

DELOS_CELL("wide_user_c", "1.0.0", nullptr, nullptr);
