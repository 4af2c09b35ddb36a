// stop_request.h: SIGINT/SIGTERM (stop cleanly) and SIGUSR1 (print stats) for delos-vmm, honoured
// by the setup steps and the vCPU loop alike.
#pragma once

#include <stdexcept>

struct kvm_run;

namespace delos::vmm {

// SIGINT and SIGTERM ask for a clean stop; a second one kills at once (the first restores the
// default action). SIGUSR1 asks the vCPU loop to print its exit counters. No SA_RESTART: a
// blocking call (KVM_RUN, opening a FIFO) returns EINTR.
void install_signal_handlers();

// The signal that asked to stop, or 0.
int stop_signal();
// "SIGINT", "SIGTERM", or "signal N".
const char* signal_name(int signal);
// The documented exit status of a clean stop: 128 + the signal, as a shell reports it
// (130 for SIGINT, 143 for SIGTERM).
inline int stop_exit_status(int signal) { return 128 + signal; }

// Thrown by setup steps that find a stop request: the guest never starts.
class StopRequested : public std::runtime_error {
public:
    explicit StopRequested(int signal) : std::runtime_error("stop requested"), m_signal(signal) {}
    int signal() const { return m_signal; }

private:
    int m_signal;
};

// Throws StopRequested when a stop was asked for.
void throw_if_stop_requested();

// The vCPU's kvm_run (nullptr: none). A stop request sets its immediate_exit, so a signal that lands
// between the vCPU loop's check and KVM_RUN still makes that KVM_RUN return at once (EINTR).
void set_stop_target(kvm_run* run);

// True once per SIGUSR1.
bool take_stats_request();

} // namespace delos::vmm
