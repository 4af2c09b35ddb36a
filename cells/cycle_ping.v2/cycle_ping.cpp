// cycle_ping.cpp (cycle_ping 2.0.0, cells/cycle_ping.v2): a second version of one half of the
// dependency cycle, for swapping a cell that is inside a cycle: ping now counts 2 per hop.
#include "linker/cell_info.h"

namespace delos::cycle {

int pong(int depth);

int ping(int depth) { return depth <= 0 ? 0 : 2 + pong(depth - 1); }

} // namespace delos::cycle

DELOS_CELL("cycle_ping", "2.0.0", nullptr, nullptr);
