// kv_workload.cpp: the kv-backed request server workload. Clients put and get versioned values
// through fc_kvserver's worker, check every answer against their own model and digest, and at the
// end read the store directly (the kv cell, not the target) before erasing what they wrote.
#include "fault_workloads/workload_protocol.h"
#include "fc_driver/reference.h"
#include "fc_driver/request_service.h"
#include "fc_driver/workloads.h"
#include "kv/kv.h"
#include "runtime/cell_call_gate.h"
#include "lib/core/format.h"

namespace delos::fault_workload {

namespace {

constexpr std::uint32_t kClients = 4;
constexpr std::uint32_t kRounds = 48;
constexpr std::uint64_t kKeys = 6;

using KvService = RequestService<KvRequest, KvReply>;

String key_of(std::uint64_t client, std::uint64_t key) { return format("fc/{}/{}", client, key); }

// The worker, not the server, names the key a request may write (the server is the target of the
// faults): kv refuses the server's writes anywhere else.
void serve_kv(const KvRequest& request, KvReply& reply, void*)
{
    String granted = key_of(request.client, request.key);
    kv::WriteGrant grant{granted.view()};
    // Through the call gate (pages_workload.cpp): the server gets none of the worker's registers.
    runtime::call_through_gate(fc_kvserver_serve, request, grant, reply);
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
    KvClient(KvService& service, std::uint32_t client) : m_service(service), m_client(client), m_random{client * 7919ull + 1} {}

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
            m_last_put[put.key] = put;

            KvRequest get{};
            get.op = KvOp::Get;
            get.client = m_client;
            get.key = m_random.next() % kKeys;
            if (!get_checked(get))
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
    bool call(const KvRequest& request, const Expected& expected)
    {
        KvReply answer{};
        return m_service.call(request, answer, [&](const KvReply& reply) { return answer_matches(reply, expected); }, m_tally);
    }

    // An erase is done when the server says so: a failed one (kv refused a key outside the
    // client's grant) is asked again, or the key would stay behind.
    bool erase(const KvRequest& erase)
    {
        KvReply answer{};
        return m_service.call(erase, answer, [](const KvReply& reply) { return reply.status == KvStatus::Ok; }, m_tally);
    }

    // A Get whose answer disagrees with the client's model: the server may have answered wrong
    // (a retry asks again), or an earlier Put may have stored a wrong value while answering right
    // (a fault in the server between the two). Asking again would then never help: the client,
    // which holds its own state (the last value it put), puts it again before asking again.
    // The verdict still reads the store directly at the end.
    bool get_checked(const KvRequest& get)
    {
        KvReply answer{};
        return m_service.call(get, answer, [&](const KvReply& reply) {
            const Expected& expected = m_expected[get.key];
            if (answer_matches(reply, expected))
                return true;
            if (expected.present)
                (void)call(m_last_put[get.key], expected);
            else {
                KvRequest removal = get;
                removal.op = KvOp::Erase;
                (void)erase(removal);
            }
            return false;
        }, m_tally);
    }

    // The end check reads the store itself, then erases through the server and checks again.
    void finish()
    {
        for (std::uint64_t key = 0; key < kKeys; ++key) {
            String name = key_of(m_client, key);
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
            KvRequest removal{};
            removal.op = KvOp::Erase;
            removal.client = m_client;
            removal.key = key;
            if (!erase(removal))
                return;
            if (!kv::get(name.view()).is_error()) {
                m_tally.correct = 0;
                m_tally.problem = "an erased key is still in the store";
                (void)kv::erase(name.view());
            }
        }
    }

    KvService& m_service;
    std::uint32_t m_client;
    reference::Random m_random;
    Expected m_expected[kKeys];
    KvRequest m_last_put[kKeys] = {};
    ClientTally m_tally;
};

// Every entry in the store, read from the kv cell directly: a faulty server that wrote under a
// corrupted key (its format string or a key field hit) leaves an entry no client erases.
std::uint64_t store_entries()
{
    kv::Cursor cursor;
    String key, value;
    std::uint64_t entries = 0;
    while (kv::next(cursor, key, value))
        ++entries;
    return entries;
}

} // namespace

WorkloadOutcome run_kv_workload(Supervisor& supervisor, TargetCell&)
{
    WorkloadOutcome outcome;
    std::uint64_t entries_before = store_entries();
    KvService service(supervisor, serve_kv, nullptr, KvService::Ownership::OwnedByCall);
    auto client = [&service](std::uint32_t index) {
        KvClient kv_client(service, index);
        return kv_client.run();
    };
    service.serve_clients(outcome, "fc.kv.worker", "fc.kv.client", kClients, client);
    if (outcome.complete && store_entries() != entries_before) {
        outcome.correct = false;
        outcome.problem = "the store holds an entry no client wrote (a put under a corrupted key)";
    }
    return outcome;
}

} // namespace delos::fault_workload
