// cycle_pong.cpp: the other half of the test-only dependency cycle (see cycle_ping).
#include "linker/cell_info.h"

namespace delos::cycle {

int ping(int depth);

int pong(int depth) { return depth <= 0 ? 0 : 10 + ping(depth - 1); }

} // namespace delos::cycle

DELOS_CELL("cycle_pong", "1.0.0", nullptr, nullptr);
