// fault_reports.h: a contained fault from the guest's fault log (recovery/fault_log.h), as the
// FaultReport event the control agent sends the host (proto/delos/v1/channel.proto).
#pragma once

#include "lib/proto/channel_messages.h"
#include "recovery/fault_log.h"

namespace delos::control {

channel::FaultKind fault_kind_of_vector(std::uint64_t vector);
channel::RecoveryAction recovery_action_of(task::RecoveryTaken taken);

// The report of a fault that was contained: its task was unwound and ended Faulted.
channel::FaultReport fault_report_of(const task::FaultLogEntry& entry);

} // namespace delos::control
