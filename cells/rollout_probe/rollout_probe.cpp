// rollout_probe.cpp (rollout_probe 1.0.0): the version guests run before a rollout.
#include "rollout_probe/rollout_probe.h"

#include "linker/cell_info.h"

namespace delos::rollout_probe {

std::uint64_t handle(std::uint64_t request) { return request + 1; }

} // namespace delos::rollout_probe

DELOS_CELL("rollout_probe", "1.0.0", nullptr, nullptr);
