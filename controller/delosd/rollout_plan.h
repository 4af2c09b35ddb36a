// rollout_plan.h: the decisions of a fleet rollout that need no network (docs/fleet.md): the
// checks on a StartRollout request, the order of the targets and their stages (canary, then
// batches), when the new version's faults say "roll back", and which states are final. The
// coordinator (rollout_coordinator.cpp) acts on them; unit tests and the fuzzer drive them alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::controller {

constexpr std::uint64_t kMaxRolloutObjectBytes = 6u << 20;  // StartRollout carries the object
constexpr std::uint32_t kMaxRolloutBakeMs = 24u * 3600u * 1000u;

// Throws RpcError (INVALID_ARGUMENT) for a spec the coordinator must not act on: the cell name,
// the object (present, at most 6 MiB, its SHA-256 as announced), the stage options, the rate,
// host and VM names. The signature is checked by every host that receives the object.
void check_rollout_spec(const v1::RolloutSpec& spec);

// Orders targets so that stages spread over hosts (round robin: each host's first guest, then
// each host's second, ...; hosts and guests by name) and assigns stage numbers: the first
// `canary` (0: 1) targets are stage 0, then batches of batch_size or batch_percent% of all
// targets (at least 1), or all the rest at once. Returns the number of stages.
std::uint32_t plan_stages(std::vector<v1::RolloutTarget>& targets, const v1::RolloutSpec& spec);

// True when `faults` faults of the new version over `guests` guests that ran it are more than
// the spec allows (max_fault_rate faults per guest; 0: any fault).
bool fault_rate_exceeded(std::uint64_t faults, std::uint64_t guests, double max_fault_rate);

bool rollout_final(v1::RolloutState state);
std::string rollout_state_word(v1::RolloutState state);         // "baking", "rolled-back", ...
std::string target_state_word(v1::RolloutTargetState state);

// "host/vm" names a target; a spec's vms entry matches it as "host/vm" or as "vm".
bool target_selected(const v1::RolloutSpec& spec, const std::string& host, const std::string& vm);

} // namespace delos::controller
