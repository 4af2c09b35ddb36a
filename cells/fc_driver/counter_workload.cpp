// counter_workload.cpp: the counter workload: the target is the counter cell itself (cells/counter,
// its counts live in kv). Each client counts its own event kRounds times through a supervised
// worker that calls counter::count. A request names the count it brings the event to, so a retry
// after a fault is idempotent: the worker first reads the count from kv directly (never through
// the counter) and calls the counter only if the count is one short (and puts the client's count
// back if a faulty count left the store elsewhere). Every answer must be that
// count, and at the end the count read from kv directly must be exactly kRounds.
#include "counter/counter.h"
#include "fault_workloads/workload_protocol.h"
#include "fc_driver/request_service.h"
#include "fc_driver/workloads.h"
#include "kv/kv.h"
#include "lib/core/format.h"
#include "runtime/cell_call_gate.h"

#include <new>
#include <type_traits>

namespace delos::fault_workload {

namespace {

constexpr std::int64_t kRounds = 48;

using CounterService = RequestService<CounterRequest, CounterReply>;

String event_of(std::uint32_t client) { return format("fc.counter.{}", client); }

// counter::count through the call gate (pages_workload.cpp), spelled in the words of the x86-64
// SysV calling convention, which the gate's typed wrapper does not cover: the ErrorOr result is
// returned through a hidden pointer (first word), the grant by reference, the StringView in two
// registers. The result slot is zeroed first (a count that returns without writing it leaves
// an empty ErrorOr, not stale words) and moved out at once.
using CountResult = ErrorOr<std::int64_t>;
static_assert(!std::is_trivially_copyable_v<CountResult>, "returned through a hidden pointer");
static_assert(sizeof(StringView) == 16 && std::is_trivially_copyable_v<StringView>, "passed in two registers");

CountResult count_through_gate(const kv::WriteGrant& grant, StringView event)
{
    using Count = CountResult (*)(const kv::WriteGrant&, StringView);
    Count count = &counter::count;
    alignas(CountResult) unsigned char slot[sizeof(CountResult)] = {};
    (void)delos_cell_call_gate(reinterpret_cast<const void*>(count), reinterpret_cast<std::uint64_t>(slot),
                               reinterpret_cast<std::uint64_t>(&grant), reinterpret_cast<std::uint64_t>(event.data()), event.size());
    auto* written = std::launder(reinterpret_cast<CountResult*>(slot));
    CountResult result = static_cast<CountResult&&>(*written);
    written->~CountResult();
    return result;
}

// The count as the store holds it (kv::add of 0 reads it; an absent key reads 0).
ErrorOr<std::int64_t> stored_count(std::uint32_t client)
{
    String key = format("counter/{}", event_of(client));
    return kv::add(key.view(), 0);
}

void serve_counter(const CounterRequest& request, CounterReply& reply, void*)
{
    reply = CounterReply{false, 0};
    auto now = stored_count(request.client);
    if (now.is_error())
        return;
    if (now.value() == request.target) {  // a retry: the count was made before the fault
        reply = CounterReply{true, now.value()};
        return;
    }
    if (now.value() != request.target - 1) {
        // The store no longer holds the client's count: a faulty count added a wrong amount (a
        // skipped `mov $1` left a stray delta) and answered. Asking the counter again can never
        // heal that, so the client, which holds its count, puts it back in the store (directly,
        // not through the counter); this answer is refused (the supervisor reloads the counter
        // and replaces the worker) and the retry counts through the counter again.
        String key = format("counter/{}", event_of(request.client));
        (void)kv::add(key.view(), (request.target - 1) - now.value());
        return;
    }
    // The worker grants the counter exactly the client's key: a count under a key the faulty
    // counter got wrong is refused by kv instead of leaving an entry no client erases.
    String event = event_of(request.client);
    String granted = format("counter/{}", event);
    kv::WriteGrant grant{granted.view()};
    auto counted = count_through_gate(grant, event.view());
    if (!counted.is_error())
        reply = CounterReply{true, counted.value()};
}

ClientTally run_client(CounterService& service, std::uint32_t client)
{
    ClientTally tally;
    for (std::int64_t round = 1; round <= kRounds; ++round) {
        CounterReply answer{};
        if (!service.call(CounterRequest{client, round}, answer, [round](const CounterReply& reply) { return reply.ok && reply.count == round; },
                          tally))
            return tally;
    }
    auto final_count = stored_count(client);
    if (final_count.is_error() || final_count.value() != kRounds) {
        tally.correct = 0;
        tally.problem = "the store's count differs from the number of counts made";
    }
    return tally;
}

} // namespace

WorkloadOutcome run_counter_workload(Supervisor& supervisor, TargetCell&)
{
    WorkloadOutcome outcome;
    // Every run starts from 0: the previous run's counts are erased (read from kv, not the counter).
    for (std::uint32_t client = 0; client < kCounterClients; ++client) {
        String key = format("counter/{}", event_of(client));
        (void)kv::erase(key.view());
    }
    CounterService service(supervisor, serve_counter, nullptr, CounterService::Ownership::OwnedByCall);
    auto client = [&service](std::uint32_t index) { return run_client(service, index); };
    service.serve_clients(outcome, "fc.counter.worker", "fc.counter.client", kCounterClients, client);
    return outcome;
}

} // namespace delos::fault_workload
