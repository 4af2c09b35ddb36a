// request_service.h: the request/reply loop every client-server workload of the fault campaign
// shares: a supervised worker takes jobs from one queue and calls the target cell's entry, and
// clients send a request until an answer passes their own check (retrying when the reply channel
// closes because the worker faulted, or when the answer is refused). Also run_clients, which
// spawns the client tasks and merges what they saw.
//
// What a worker is serving lives in its slot's record here, never in the worker's stack frame:
// a fault in the target can corrupt the words above its stack pointer (the worker's frame) or
// leave the unwind unable to start in the target and resume further up, skipping the worker's
// frame and its destructors. Held in the frame, the job's reply sender would then be lost (the
// client waits for ever: a hang) or released through a corrupted pointer (a leak). Held here,
// the supervisor releases it when the worker ends Faulted (the client sees its reply channel
// close and asks again) and the worker's frame owns nothing to leak.
#pragma once

#include <cstdint>

#include "fc_driver/supervisor.h"
#include "fc_driver/workloads.h"
#include "lib/core/string_view.h"
#include "log/kernel_log.h"
#include "memory/call_ownership.h"
#include "task/channel.h"
#include "task/join_handle.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::fault_workload {

template <typename Body>
void run_clients(WorkloadOutcome& outcome, StringView name, std::uint32_t count, Body& body);

template <typename Request, typename Reply>
class RequestService {
public:
    using Serve = void (*)(const Request& request, Reply& reply, void* context);

    struct Job {
        Request request{};
        task::Sender<Reply> reply;
    };

    // How the target's allocations in a call are owned: OwnedByCall when the target keeps no
    // state of its own between requests, so that what its code allocated in a call and did not
    // hand out (the reply's pages) is released when the call returns or faults
    // (memory/call_ownership.h, docs/cell-memory-ownership.md).
    enum class Ownership { TargetKeeps, OwnedByCall };

    RequestService(Supervisor& supervisor, Serve serve, void* context, Ownership ownership = Ownership::TargetKeeps)
        : m_supervisor(supervisor), m_serve(serve), m_context(context), m_ownership(ownership) {}

    // Creates the queue and starts one supervised worker (and the supervision).
    ErrorOr<void> start(StringView worker_name)
    {
        if (m_ownership == Ownership::OwnedByCall) {
            if (auto driver = code_range_of("fc_driver"); !driver.is_error())
                m_driver_code = driver.value();  // never reloaded: asked once
        }
        auto channel = TRY(task::make_channel<Job>(16));
        m_jobs = std::move(channel.sender);
        m_queue = std::move(channel.receiver);
        TRY(m_supervisor.add_worker(worker_name, worker, this, release_in_flight));
        TRY(m_supervisor.start());
        return {};
    }

    // Sends `request` until `accept(reply)` holds; false (tally incomplete) when the attempts ran
    // out or the queue closed. A refused answer tells the supervisor (the target may be corrupted).
    template <typename Accept>
    bool call(const Request& request, Reply& answer, Accept&& accept, ClientTally& tally)
    {
        ++tally.requests;
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
            if (attempt > 0) {
                ++tally.retries;
                task::scheduler::sleep_for(1'000'000);
            }
            auto channel = task::make_channel<Reply>(1);
            if (channel.is_error())
                continue;
            if (m_jobs.send(Job{request, std::move(channel.value().sender)}).is_error())
                break;
            auto reply = channel.value().receiver.receive();
            if (reply.is_error())
                continue;  // the worker faulted with our request (its job was released): ask again
            if (accept(reply.value())) {
                answer = reply.value();
                return true;
            }
            m_supervisor.note_wrong_answer();
        }
        tally.complete = 0;
        tally.problem = "a request ran out of attempts";
        return false;
    }

    // No more requests: the worker returns once the queue is drained; waits for the supervision.
    void finish()
    {
        m_jobs = task::Sender<Job>();
        m_supervisor.finish();
    }

    // A workload's whole run: starts the worker, runs `count` clients `body(index) -> ClientTally`
    // against it, merges what they saw into `outcome` and stops the worker. A worker that cannot
    // start leaves the outcome incomplete.
    template <typename Body>
    void serve_clients(WorkloadOutcome& outcome, StringView worker_name, StringView client_name, std::uint32_t count, Body& body)
    {
        if (start(worker_name).is_error()) {
            outcome.complete = false;
            outcome.problem = "could not start the worker";
            m_supervisor.finish();
            return;
        }
        run_clients(outcome, client_name, count, body);
        finish();
    }

private:
    // Per worker slot: the job being served, the reply being built and what the call owns.
    struct InFlight {
        Job job;
        Reply reply{};
        memory::CallOwnership call;
    };

    // The call's ledger charges the target's code and this driver's (the serve function around
    // the call keeps nothing beyond the reply either): a fault in the target can leave the
    // driver's temporaries without their destructors too (a callee-saved register the target
    // did not restore, a pointer it corrupted).
    void open_call(InFlight& mine)
    {
        if (m_ownership != Ownership::OwnedByCall)
            return;
        auto code = m_supervisor.target().code_range();
        if (code.is_error())
            return;
        CallLedger::CodeRange ranges[2] = {code.value(), m_driver_code};
        (void)mine.call.open(ranges, m_driver_code.size ? 2 : 1);
    }

    void close_call(InFlight& mine)
    {
        memory::CallRelease released = mine.call.close();
        if (released.total() != 0) {
            kprint("fc: a call into the target left {} object(s) ({} bytes) and {} page run(s): released\n", released.objects,
                   released.bytes, released.page_runs);
            m_supervisor.note_released(released.total(), released.bytes);
        }
    }

    static void worker(void* context, WorkerSlot& slot)
    {
        auto& self = *static_cast<RequestService*>(context);
        InFlight& mine = self.m_in_flight[slot.index()];
        for (;;) {
            {
                auto job = self.m_queue.receive();
                if (job.is_error())
                    return;
                mine.job = job.release_value();
            }
            mine.reply = Reply{};
            self.open_call(mine);
            slot.begin_item();
            self.m_serve(mine.job.request, mine.reply, self.m_context);
            slot.end_item();
            if constexpr (requires { mine.reply.pages; }) {
                // The reply's pages are the client's — if the target really mapped them in this
                // call: a handle it left wrong is dropped untouched, the empty reply refused.
                if (!mine.call.hand_out(mine.reply.pages))
                    kprint("fc: the target's reply named pages it did not map in this call: dropped\n");
            }
            self.close_call(mine);
            (void)mine.job.reply.send(mine.reply);
            mine.job.reply = task::Sender<Reply>();
            mine.reply = Reply{};  // a reply may own resources (pages): the client has its copy
            if (slot.should_retire())
                return;  // replaced after a refused answer: the supervisor spawns a fresh worker
        }
    }

    // The supervisor, after a worker of this service ended Faulted (it no longer runs): its job's
    // reply channel closes, so the client retries.
    static void release_in_flight(void* context, WorkerSlot& slot)
    {
        auto& self = *static_cast<RequestService*>(context);
        InFlight& faulted = self.m_in_flight[slot.index()];
        faulted.job = Job{};
        // The faulted call was building the reply: its pages are checked like a returned call's
        // before the reply is dropped (a handle the target left wrong is not read through).
        if constexpr (requires { faulted.reply.pages; })
            (void)faulted.call.hand_out(faulted.reply.pages);
        faulted.reply = Reply{};
        self.close_call(faulted);  // the call faulted: what it owned goes too
    }

    Supervisor& m_supervisor;
    Serve m_serve;
    void* m_context;
    Ownership m_ownership;
    CallLedger::CodeRange m_driver_code;
    task::Sender<Job> m_jobs;
    task::Receiver<Job> m_queue;
    InFlight m_in_flight[Supervisor::kMaxWorkers];
};

// Spawns `count` client tasks running `body(client_index) -> ClientTally`, waits for all and
// merges their tallies into `outcome`.
template <typename Body>
void run_clients(WorkloadOutcome& outcome, StringView name, std::uint32_t count, Body& body)
{
    constexpr std::uint32_t kMaxClients = 8;
    task::JoinHandle<ClientTally> clients[kMaxClients];
    for (std::uint32_t i = 0; i < count && i < kMaxClients; ++i) {
        Body* at = &body;
        auto spawned = task::spawn(name, [at, i] { return (*at)(i); });
        if (!spawned.is_error())
            clients[i] = spawned.release_value();
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        if (i >= kMaxClients || !clients[i].valid()) {
            merge(outcome, ClientTally{0, 1, 0, 0, "a client could not be spawned"});
            continue;
        }
        auto ended = clients[i].join();
        if (!ended.returned())
            merge(outcome, ClientTally{0, 1, 0, 0, "a client task did not return"});
        else
            merge(outcome, ended.value());
    }
}

} // namespace delos::fault_workload
