// rollout_probe.h: the test cell fleet rollouts swap (tests/controller/fleet_rollout_test.cpp,
// bench/fleet): one call, made over and over by rollout_load's tasks, so a version that faults
// when called faults "under load" and an idle guest does not.
#pragma once

#include <cstdint>

namespace delos::rollout_probe {

// Answers one request; every version returns request + its major version.
std::uint64_t handle(std::uint64_t request);

} // namespace delos::rollout_probe
