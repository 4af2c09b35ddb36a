// session_workload.cpp: the state-spill workload. Each client folds a stream of values into a
// session state through fc_session. Stateless: the client sends its state with every value,
// checks the answer against its reference and keeps the new state itself, so a fault costs a
// retry and nothing else. Stateful: the server keeps the state; the client can only compare the
// final answer with the reference, and a fault (a reload forgets, a retry applies twice) shows.
#include "fault_workloads/workload_protocol.h"
#include "fc_driver/reference.h"
#include "fc_driver/request_service.h"
#include "fc_driver/workloads.h"
#include "runtime/cell_call_gate.h"

extern "C" void fc_session_serve_stateless(const delos::fault_workload::SessionRequest& request,
                                           delos::fault_workload::SessionState& reply);
extern "C" void fc_session_serve_stateful(const delos::fault_workload::SessionRequest& request,
                                          delos::fault_workload::SessionState& reply);

namespace delos::fault_workload {

namespace {

constexpr std::uint32_t kClients = 4;
constexpr std::uint32_t kValues = 96;

using SessionService = RequestService<SessionRequest, SessionState>;

void serve_session(const SessionRequest& request, SessionState& reply, void* context)
{
    // Both through the call gate (pages_workload.cpp), so the two servers differ only in the state
    // they keep.
    if (*static_cast<const bool*>(context))
        runtime::call_through_gate(fc_session_serve_stateful, request, reply);
    else
        runtime::call_through_gate(fc_session_serve_stateless, request, reply);
}

ClientTally run_client(SessionService& service, bool stateful, std::uint32_t client)
{
    ClientTally tally;
    reference::Random random{client * 104729ull + 3};
    SessionState mine{};      // stateless: the client's own state
    SessionState expected{};  // the reference fold of every value sent
    SessionState last_answer{};
    for (std::uint32_t i = 0; i < kValues; ++i) {
        std::uint64_t value = random.next() >> 8;
        SessionState want = reference::next_state(expected, value);
        SessionRequest request{client, value, stateful ? SessionState{} : mine};
        SessionState next = reference::next_state(mine, value);
        // The stateful server's answer cannot be checked: the client does not know its state.
        if (!service.call(request, last_answer, [&](const SessionState& reply) { return stateful || reference::same_state(reply, next); }, tally))
            return tally;
        if (!stateful)
            mine = last_answer;
        expected = want;
    }
    if (!reference::same_state(last_answer, expected)) {
        tally.correct = 0;
        tally.problem = "the session's final state differs from the reference (client state lost)";
    }
    return tally;
}

} // namespace

WorkloadOutcome run_session_workload(Supervisor& supervisor, TargetCell&, bool stateful)
{
    WorkloadOutcome outcome;
    SessionService service(supervisor, serve_session, &stateful);
    auto client = [&service, stateful](std::uint32_t index) { return run_client(service, stateful, index); };
    service.serve_clients(outcome, "fc.session.worker", "fc.session.client", kClients, client);
    return outcome;
}

} // namespace delos::fault_workload
