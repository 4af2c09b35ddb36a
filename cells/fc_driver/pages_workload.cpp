// pages_workload.cpp: the page workload: clients ask fc_pages for runs of 1..3 fresh pages filled
// from a seed, through a supervised worker. Each client checks every answer itself: the run's
// size, every word against reference::pages_word, and that it holds the only reference (the
// server kept none); then it drops the run, which unmaps and frees its frames. The campaign's
// frame count after the run shows pages a fault left mapped.
#include "fault_workloads/workload_protocol.h"
#include "fc_driver/reference.h"
#include "fc_driver/request_service.h"
#include "fc_driver/workloads.h"
#include "runtime/cell_call_gate.h"

extern "C" void fc_pages_fill(const delos::fault_workload::PagesRequest& request, delos::fault_workload::PagesReply& reply);

namespace delos::fault_workload {

namespace {

constexpr std::uint32_t kClients = 3;
constexpr std::uint32_t kRequests = 24;

using PagesService = RequestService<PagesRequest, PagesReply>;

// Through the kernel's call gate (runtime/cell_call_gate.h): the target gets none of the worker's
// callee-saved registers (poisoned, restored by the gate) and a zeroed stack, so a skipped frame
// set-up or a result it never received faults or reads null instead of writing through the
// worker's pointers.
void serve_pages(const PagesRequest& request, PagesReply& reply, void*) { runtime::call_through_gate(fc_pages_fill, request, reply); }

bool pages_match(const PagesReply& reply, const PagesRequest& request)
{
    if (!reply.pages.valid() || reply.pages.size() != request.pages * memory::kPageSize)
        return false;
    const auto* words = reply.pages.as<const std::uint64_t>();
    std::size_t count = reply.pages.size() / sizeof(std::uint64_t);
    for (std::size_t i = 0; i < count; ++i) {
        if (words[i] != reference::pages_word(request.seed, i))
            return false;
    }
    return true;
}

ClientTally run_client(PagesService& service, std::uint32_t client)
{
    ClientTally tally;
    reference::Random random{client * 6151ull + 11};
    for (std::uint32_t i = 0; i < kRequests; ++i) {
        PagesRequest request{random.next(), static_cast<std::uint32_t>(1 + random.next() % kMaxPagesPerRequest)};
        PagesReply answer{};
        if (!service.call(request, answer, [&request](const PagesReply& reply) { return pages_match(reply, request); }, tally))
            return tally;
    }
    return tally;
}

} // namespace

WorkloadOutcome run_pages_workload(Supervisor& supervisor, TargetCell&)
{
    WorkloadOutcome outcome;
    std::uint64_t mapped_before = memory::mapped_pages_frames_in_use();
    PagesService service(supervisor, serve_pages, nullptr, PagesService::Ownership::OwnedByCall);
    auto client = [&service](std::uint32_t index) { return run_client(service, index); };
    service.serve_clients(outcome, "fc.pages.worker", "fc.pages.client", kClients, client);
    // Every run handed out was dropped by its client: a run still mapped is one the server kept
    // (or a fault left mapped) — the pages the server shares must come back.
    if (outcome.complete && memory::mapped_pages_frames_in_use() != mapped_before) {
        outcome.correct = false;
        outcome.problem = "pages handed out are still mapped after every client dropped its run";
    }
    return outcome;
}

} // namespace delos::fault_workload
