// policy_options.h: the guest-wide default recovery policy from the command line (docs/fault-
// recovery.md): recovery.window_ms=, recovery.reload_after_faults=, recovery.max_reloads=,
// recovery.rollback_window_ms=, recovery.max_restarts= (decimal). Host-tested.
#pragma once

#include "lib/core/command_line.h"
#include "lib/core/error_or.h"
#include "lib/recovery/recovery_decision.h"

namespace delos::recovery {

// `base` with the options the command line sets; an option that is not a decimal number, or a
// policy that cannot work, is refused (the error names the option).
ErrorOr<RecoveryPolicy> policy_from_command_line(const CommandLine& command_line, RecoveryPolicy base);

} // namespace delos::recovery
