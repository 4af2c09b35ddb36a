// session_workload.cpp: the state-spill workload. Each client folds a stream of values into a
// session state through fc_session. Stateless: the client sends its state with every value,
// checks the answer against its reference and keeps the new state itself, so a fault costs a
// retry and nothing else. Stateful: the server keeps the state; the client can only compare the
// final answer with the reference, and a fault (a reload forgets, a retry applies twice) shows.
#include "fault_workloads/workload_protocol.h"
#include "fc_driver/reference.h"
#include "fc_driver/workloads.h"
#include "task/channel.h"
#include "task/scheduler.h"
#include "task/spawn.h"

extern "C" void fc_session_serve_stateless(const delos::fault_workload::SessionRequest& request,
                                           delos::fault_workload::SessionState& reply);
extern "C" void fc_session_serve_stateful(const delos::fault_workload::SessionRequest& request,
                                          delos::fault_workload::SessionState& reply);

namespace delos::fault_workload {

namespace {

constexpr std::uint32_t kClients = 4;
constexpr std::uint32_t kValues = 96;

struct SessionJob {
    SessionRequest request;
    task::Sender<SessionState> reply;
};

struct SessionShared {
    task::Sender<SessionJob> jobs;
    task::Receiver<SessionJob> job_queue;
    Supervisor* supervisor;
    bool stateful;
};

void session_worker(void* context, WorkerSlot& slot)
{
    auto& shared = *static_cast<SessionShared*>(context);
    task::Receiver<SessionJob> jobs = shared.job_queue.clone();
    for (;;) {
        auto job = jobs.receive();
        if (job.is_error())
            return;
        slot.begin_item();
        SessionState reply{};
        if (shared.stateful)
            fc_session_serve_stateful(job.value().request, reply);
        else
            fc_session_serve_stateless(job.value().request, reply);
        slot.end_item();
        (void)job.value().reply.send(reply);
    }
}

ClientTally run_client(SessionShared& shared, std::uint32_t client)
{
    ClientTally tally;
    reference::Random random{client * 104729ull + 3};
    SessionState mine{};      // stateless: the client's own state
    SessionState expected{};  // the reference fold of every value sent
    SessionState last_answer{};
    for (std::uint32_t i = 0; i < kValues; ++i) {
        std::uint64_t value = random.next() >> 8;
        SessionState want = reference::next_state(expected, value);
        SessionRequest request{client, value, shared.stateful ? SessionState{} : mine};
        ++tally.requests;
        bool answered = false;
        for (int attempt = 0; attempt < kMaxAttempts && !answered; ++attempt) {
            if (attempt > 0) {
                ++tally.retries;
                task::scheduler::sleep_for(1'000'000);
            }
            auto channel = task::make_channel<SessionState>(1);
            if (channel.is_error())
                continue;
            if (shared.jobs.send(SessionJob{request, std::move(channel.value().sender)}).is_error())
                break;
            auto reply = channel.value().receiver.receive();
            if (reply.is_error())
                continue;
            if (!shared.stateful && !reference::same_state(reply.value(), reference::next_state(mine, value))) {
                shared.supervisor->note_wrong_answer();
                continue;
            }
            last_answer = reply.value();
            answered = true;
        }
        if (!answered) {
            tally.complete = 0;
            tally.problem = "a request ran out of attempts";
            return tally;
        }
        if (!shared.stateful)
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
    auto channel = task::make_channel<SessionJob>(16);
    if (channel.is_error()) {
        outcome.complete = false;
        outcome.problem = "no memory for the job queue";
        return outcome;
    }
    SessionShared shared{std::move(channel.value().sender), std::move(channel.value().receiver), &supervisor, stateful};
    if (supervisor.add_worker("fc.session.worker", session_worker, &shared).is_error() || supervisor.start().is_error()) {
        outcome.complete = false;
        outcome.problem = "could not start the worker";
        return outcome;
    }
    task::JoinHandle<ClientTally> clients[kClients];
    for (std::uint32_t i = 0; i < kClients; ++i) {
        SessionShared* at = &shared;
        auto spawned = task::spawn("fc.session.client", [at, i] { return run_client(*at, i); });
        if (!spawned.is_error())
            clients[i] = spawned.release_value();
    }
    for (auto& client : clients) {
        if (!client.valid()) {
            merge(outcome, ClientTally{0, 1, 0, 0, "a client could not be spawned"});
            continue;
        }
        auto ended = client.join();
        if (!ended.returned())
            merge(outcome, ClientTally{0, 1, 0, 0, "a client task did not return"});
        else
            merge(outcome, ended.value());
    }
    shared.jobs = task::Sender<SessionJob>();
    supervisor.finish();
    return outcome;
}

} // namespace delos::fault_workload
