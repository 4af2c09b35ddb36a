// cell_recovery_info.h: a loaded cell's fault recovery policy and record (recovery_policy/), as
// the CellInfo fields `list` shows (proto/delos/v1/channel.proto: recovery_policy, recovery).
#pragma once

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "lib/proto/channel_messages.h"

namespace delos::control {

// Fills info.recovery_policy and info.recovery for the loaded cell `cell`; a quarantined cell's
// state becomes Faulted.
void describe_recovery(StringView cell, channel::CellInfo& info);

// Sets `cell`'s policy (empty: the default) from the channel's form; returns it as now held.
ErrorOr<channel::RecoveryPolicyInfo> set_recovery_policy_from(StringView cell, const channel::RecoveryPolicyInfo& policy);

} // namespace delos::control
