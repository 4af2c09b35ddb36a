// stop_request.cpp: the signal handlers and the flags they set (async-signal-safe only).
#include "stop_request.h"

#include <linux/kvm.h>
#include <signal.h>

#include <atomic>
#include <csignal>

namespace delos::vmm {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_stats_requested = 0;
std::atomic<kvm_run*> g_stop_target{nullptr};
static_assert(std::atomic<kvm_run*>::is_always_lock_free);

void on_stop_signal(int signal)
{
    g_stop_signal = signal;
    if (kvm_run* run = g_stop_target.load(std::memory_order_relaxed))
        run->immediate_exit = 1;
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal, &fallback, nullptr);  // a second one is not ignored if the shutdown hangs
}

void on_stats_signal(int) { g_stats_requested = 1; }

} // namespace

void install_signal_handlers()
{
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: KVM_RUN and blocking opens must return EINTR
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    action.sa_handler = on_stats_signal;
    sigaction(SIGUSR1, &action, nullptr);
}

int stop_signal() { return g_stop_signal; }

const char* signal_name(int signal)
{
    switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
    }
}

void throw_if_stop_requested()
{
    if (int signal = g_stop_signal)
        throw StopRequested(signal);
}

void set_stop_target(kvm_run* run)
{
    g_stop_target.store(run);
    if (run && g_stop_signal)
        run->immediate_exit = 1;
}

bool take_stats_request()
{
    if (!g_stats_requested)
        return false;
    g_stats_requested = 0;
    return true;
}

} // namespace delos::vmm
