// fc_session.cpp: the fault campaign's session server (a target cell), in two styles over the
// same arithmetic. Stateless (Theseus's "no state spill"): each request carries the client's
// state and gets the next state back, so a fault loses nothing and a retry is idempotent.
// Stateful (the deliberate counter-example): the server keeps each client's state in its own
// data, so a reload from a pristine copy forgets it and a retried request is applied twice.
#include "fault_workloads/workload_protocol.h"
#include "linker/cell_info.h"

namespace {

using namespace delos::fault_workload;

SessionState g_sessions[kSessionClients];

SessionState next_state(SessionState state, std::uint64_t value)
{
    state.count += 1;
    state.sum += value;
    std::uint64_t hash = state.hash ^ value;
    for (int round = 0; round < 16; ++round) {
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdull;
        hash ^= hash >> 29;
    }
    state.hash = hash;
    return state;
}

} // namespace

extern "C" [[gnu::visibility("default")]] void fc_session_serve_stateless(const SessionRequest& request, SessionState& reply)
{
    reply = next_state(request.state, request.value);
}

extern "C" [[gnu::visibility("default")]] void fc_session_serve_stateful(const SessionRequest& request, SessionState& reply)
{
    if (request.client >= kSessionClients) {
        reply = SessionState{};
        return;
    }
    SessionState& session = g_sessions[request.client];
    session = next_state(session, request.value);
    reply = session;
}

extern "C" [[gnu::visibility("default")]] void fc_session_forget()
{
    for (SessionState& session : g_sessions)
        session = SessionState{};
}

DELOS_CELL("fc_session", "1.0.0", nullptr, nullptr);
