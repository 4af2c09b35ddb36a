// kv_workload.cpp: the kv-backed request server workload. Clients put and get versioned values
// through fc_kvserver's worker, check every answer against their own model and digest, and at the
// end read the store directly (the kv cell, not the target) before erasing what they wrote.
#include "fault_workloads/workload_protocol.h"
#include "fc_driver/reference.h"
#include "fc_driver/workloads.h"
#include "kv/kv.h"
#include "lib/core/format.h"
#include "task/channel.h"
#include "task/scheduler.h"
#include "task/spawn.h"

extern "C" void fc_kvserver_serve(const delos::fault_workload::KvRequest& request, delos::fault_workload::KvReply& reply);

namespace delos::fault_workload {

namespace {

constexpr std::uint32_t kClients = 4;
constexpr std::uint32_t kRounds = 48;
constexpr std::uint64_t kKeys = 6;

struct KvJob {
    KvRequest request;
    task::Sender<KvReply> reply;
};

struct KvShared {
    task::Sender<KvJob> jobs;
    task::Receiver<KvJob> job_queue;
    Supervisor* supervisor;
};

void kv_worker(void* context, WorkerSlot& slot)
{
    auto& shared = *static_cast<KvShared*>(context);
    task::Receiver<KvJob> jobs = shared.job_queue.clone();
    for (;;) {
        auto job = jobs.receive();
        if (job.is_error())
            return;
        slot.begin_item();
        KvReply reply{};
        fc_kvserver_serve(job.value().request, reply);
        slot.end_item();
        (void)job.value().reply.send(reply);
    }
}

struct Expected {
    bool present = false;
    std::uint64_t seq = 0;
    std::uint64_t digest = 0;
};

bool parse_stored(StringView text, std::uint64_t& seq, std::uint64_t& digest)
{
    seq = digest = 0;
    bool second = false;
    std::size_t digits = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == ':' && !second && digits > 0) {
            second = true;
            digits = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return false;
        std::uint64_t& value = second ? digest : seq;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
        ++digits;
    }
    return second && digits > 0;
}

class KvClient {
public:
    KvClient(KvShared& shared, std::uint32_t client) : m_shared(shared), m_client(client), m_random{client * 7919ull + 1} {}

    ClientTally run()
    {
        for (std::uint32_t round = 0; round < kRounds && m_tally.complete; ++round) {
            KvRequest put{};
            put.op = KvOp::Put;
            put.client = m_client;
            put.key = m_random.next() % kKeys;
            put.seq = round + 1;
            for (auto& word : put.payload)
                word = m_random.next();
            std::uint64_t digest = reference::digest(put.payload, kPayloadWords);
            Expected after{true, put.seq, digest};
            if (!call(put, after))
                break;
            m_expected[put.key] = after;

            KvRequest get{};
            get.op = KvOp::Get;
            get.client = m_client;
            get.key = m_random.next() % kKeys;
            if (!call(get, m_expected[get.key]))
                break;
        }
        finish();
        return m_tally;
    }

private:
    static bool answer_matches(const KvReply& reply, const Expected& expected)
    {
        if (!expected.present)
            return reply.status == KvStatus::NotFound;
        return reply.status == KvStatus::Ok && reply.seq == expected.seq && reply.digest == expected.digest;
    }

    // Sends `request` until an answer passes the check (or the attempts run out).
    bool call(const KvRequest& request, const Expected& expected, bool check = true)
    {
        ++m_tally.requests;
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
            if (attempt > 0) {
                ++m_tally.retries;
                task::scheduler::sleep_for(1'000'000);
            }
            auto channel = task::make_channel<KvReply>(1);
            if (channel.is_error())
                continue;
            if (m_shared.jobs.send(KvJob{request, std::move(channel.value().sender)}).is_error())
                break;
            auto reply = channel.value().receiver.receive();
            if (reply.is_error())
                continue;  // the worker faulted with our request: ask again
            if (!check || answer_matches(reply.value(), expected))
                return true;
            m_shared.supervisor->note_wrong_answer();
        }
        m_tally.complete = 0;
        m_tally.problem = "a request ran out of attempts";
        return false;
    }

    // The end check reads the store itself, then erases through the server and checks again.
    void finish()
    {
        for (std::uint64_t key = 0; key < kKeys; ++key) {
            String name = format("fc/{}/{}", m_client, key);
            auto stored = kv::get(name.view());
            const Expected& expected = m_expected[key];
            if (expected.present != !stored.is_error()) {
                m_tally.correct = 0;
                m_tally.problem = "the store lost or invented a key";
            } else if (expected.present) {
                std::uint64_t seq = 0, digest = 0;
                if (!parse_stored(stored.value().view(), seq, digest) || seq != expected.seq || digest != expected.digest) {
                    m_tally.correct = 0;
                    m_tally.problem = "the store holds a wrong value";
                }
            }
            KvRequest erase{};
            erase.op = KvOp::Erase;
            erase.client = m_client;
            erase.key = key;
            if (!call(erase, {}, false))
                return;
            if (!kv::get(name.view()).is_error()) {
                m_tally.correct = 0;
                m_tally.problem = "an erased key is still in the store";
                (void)kv::erase(name.view());
            }
        }
    }

    KvShared& m_shared;
    std::uint32_t m_client;
    reference::Random m_random;
    Expected m_expected[kKeys];
    ClientTally m_tally;
};

} // namespace

WorkloadOutcome run_kv_workload(Supervisor& supervisor, TargetCell&)
{
    WorkloadOutcome outcome;
    auto channel = task::make_channel<KvJob>(16);
    if (channel.is_error()) {
        outcome.complete = false;
        outcome.problem = "no memory for the job queue";
        return outcome;
    }
    KvShared shared{std::move(channel.value().sender), std::move(channel.value().receiver), &supervisor};
    if (supervisor.add_worker("fc.kv.worker", kv_worker, &shared).is_error() || supervisor.start().is_error()) {
        outcome.complete = false;
        outcome.problem = "could not start the worker";
        return outcome;
    }
    task::JoinHandle<ClientTally> clients[kClients];
    for (std::uint32_t i = 0; i < kClients; ++i) {
        KvShared* at = &shared;
        auto spawned = task::spawn("fc.kv.client", [at, i] {
            KvClient client(*at, i);
            return client.run();
        });
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
    // Closing the queue's only sender ends the worker (a worker restarted meanwhile clones the
    // queue's receiver, which stays open until the supervisor is done).
    shared.jobs = task::Sender<KvJob>();
    supervisor.finish();
    return outcome;
}

void merge(WorkloadOutcome& outcome, const ClientTally& tally)
{
    outcome.requests += tally.requests;
    outcome.retries += tally.retries;
    if (!tally.complete && outcome.complete) {
        outcome.complete = false;
        if (!*outcome.problem)
            outcome.problem = tally.problem;
    }
    if (!tally.correct && outcome.correct) {
        outcome.correct = false;
        outcome.problem = tally.problem;
    }
}

} // namespace delos::fault_workload
