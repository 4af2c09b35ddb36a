// cycle_ping.cpp: a test-only cell (NOT_BOOT) that calls cycle_pong, which calls it back: the
// smallest dependency cycle, to show that a load places every cell before relocating any.
#include "linker/cell_info.h"

namespace delos::cycle {

int pong(int depth);

int ping(int depth) { return depth <= 0 ? 0 : 1 + pong(depth - 1); }

} // namespace delos::cycle

DELOS_CELL("cycle_ping", "1.0.0", nullptr, nullptr);
