// pipeline_workload.cpp: the pipeline workload: a source task sends numbered blocks over a
// channel to stage 0, stage 0 to stage 1, stage 1 to a sink (both stages are fc_pipeline code in
// supervised workers). The sink checks each block against the reference and keeps the first good
// copy; the source sends again whatever has not arrived once the pipeline goes quiet, so a block
// lost with a faulted stage is recovered end to end.
#include <atomic>

#include "fault_workloads/workload_protocol.h"
#include "fc_driver/reference.h"
#include "fc_driver/workloads.h"
#include "runtime/cell_call_gate.h"
#include "arch/x86_64/tsc.h"
#include "task/channel.h"
#include "task/scheduler.h"
#include "task/spawn.h"

extern "C" void fc_pipeline_stage(std::uint32_t stage, delos::fault_workload::Block& block);

namespace delos::fault_workload {

namespace {

constexpr std::uint64_t kBlocks = 160;
constexpr std::uint64_t kQuietNs = 50'000'000;       // no block for this long: send the missing again
constexpr std::uint64_t kDeadlineNs = 60'000'000'000;
constexpr std::uint64_t kMaxResent = kBlocks * 6;
constexpr std::uint64_t kStopSeq = ~std::uint64_t(0);  // the block that ends a stage (stage 0 passes it on)

struct PipelineShared {
    task::Sender<Block> stage0_in;
    task::Receiver<Block> stage0_queue;
    task::Sender<Block> stage1_in;
    task::Receiver<Block> stage1_queue;
    task::Sender<Block> sink_in;
    task::Receiver<Block> sink_queue;
    Supervisor* supervisor;
    Block in_flight[2];  // what each stage works on (see stage_worker)
    std::atomic<std::uint8_t> arrived[kBlocks];
    std::atomic<std::uint64_t> arrived_count{0};
    std::atomic<std::uint64_t> last_arrival_ns{0};
    std::atomic<std::uint64_t> resent{0};
    std::atomic<bool> wrong_kept{false};
};

// The block a stage works on lives in `shared.in_flight`, and the stage uses the shared channel
// ends rather than clones of them: the worker's own frame owns nothing, so a fault that corrupts
// it or an unwind that has to skip it leaks nothing (request_service.h says why). A block lost
// with a faulted stage is sent again by the source.
void stage_worker(PipelineShared& shared, std::uint32_t stage, WorkerSlot& slot)
{
    task::Receiver<Block>& input = stage == 0 ? shared.stage0_queue : shared.stage1_queue;
    task::Sender<Block>& output = stage == 0 ? shared.stage1_in : shared.sink_in;
    Block& block = shared.in_flight[stage];
    for (;;) {
        {
            auto received = input.receive();
            if (received.is_error())
                return;
            block = received.value();
        }
        if (block.seq == kStopSeq) {
            if (stage == 0)
                (void)output.send(block);
            return;
        }
        slot.begin_item();
        // Through the call gate (pages_workload.cpp): a stage that clobbers a callee-saved register
        // hands the worker nothing of it.
        runtime::call_through_gate(fc_pipeline_stage, stage, block);
        slot.end_item();
        if (output.send(block).is_error())
            return;
        if (slot.should_retire())
            return;  // replaced after a refused block: the supervisor spawns a fresh stage
    }
}

void stage0_worker(void* context, WorkerSlot& slot) { stage_worker(*static_cast<PipelineShared*>(context), 0, slot); }
void stage1_worker(void* context, WorkerSlot& slot) { stage_worker(*static_cast<PipelineShared*>(context), 1, slot); }

void source(PipelineShared& shared)
{
    for (std::uint64_t seq = 0; seq < kBlocks; ++seq)
        (void)shared.stage0_in.send(reference::source_block(seq));
    std::uint64_t start = tsc::nanoseconds_since_boot();
    while (shared.arrived_count.load(std::memory_order_acquire) < kBlocks) {
        std::uint64_t now = tsc::nanoseconds_since_boot();
        if (now - start > kDeadlineNs)
            return;
        std::uint64_t last = shared.last_arrival_ns.load(std::memory_order_acquire);
        if (now - (last > start ? last : start) > kQuietNs && shared.resent.load(std::memory_order_relaxed) < kMaxResent) {
            for (std::uint64_t seq = 0; seq < kBlocks; ++seq) {
                if (!shared.arrived[seq].load(std::memory_order_acquire)) {
                    shared.resent.fetch_add(1, std::memory_order_relaxed);
                    (void)shared.stage0_in.send(reference::source_block(seq));
                }
            }
            shared.last_arrival_ns.store(tsc::nanoseconds_since_boot(), std::memory_order_release);
        }
        task::scheduler::sleep_for(2'000'000);
    }
}

// Runs in the calling task: takes blocks until every one arrived good or the deadline passed.
void sink(PipelineShared& shared)
{
    std::uint64_t start = tsc::nanoseconds_since_boot();
    while (shared.arrived_count.load(std::memory_order_acquire) < kBlocks) {
        auto block = shared.sink_queue.try_receive();
        if (block.is_error()) {
            if (tsc::nanoseconds_since_boot() - start > kDeadlineNs)
                return;
            task::scheduler::sleep_for(500'000);
            continue;
        }
        const Block& got = block.value();
        if (got.seq >= kBlocks || !reference::same_block(got, reference::finished_block(got.seq))) {
            shared.supervisor->note_wrong_answer();
            continue;
        }
        if (shared.arrived[got.seq].exchange(1, std::memory_order_acq_rel) == 0) {
            shared.arrived_count.fetch_add(1, std::memory_order_acq_rel);
            shared.last_arrival_ns.store(tsc::nanoseconds_since_boot(), std::memory_order_release);
        }
    }
}

} // namespace

WorkloadOutcome run_pipeline_workload(Supervisor& supervisor, TargetCell&)
{
    WorkloadOutcome outcome;
    auto first = task::make_channel<Block>(8);
    auto second = task::make_channel<Block>(8);
    auto last = task::make_channel<Block>(kBlocks + kMaxResent + 2);
    if (first.is_error() || second.is_error() || last.is_error()) {
        outcome.complete = false;
        outcome.problem = "no memory for the channels";
        return outcome;
    }
    auto* shared = new PipelineShared{std::move(first.value().sender), std::move(first.value().receiver),
                                      std::move(second.value().sender), std::move(second.value().receiver),
                                      std::move(last.value().sender), std::move(last.value().receiver), &supervisor, {}, {}};
    for (auto& flag : shared->arrived)
        flag.store(0, std::memory_order_relaxed);
    if (supervisor.add_worker("fc.pipe.stage0", stage0_worker, shared).is_error()
        || supervisor.add_worker("fc.pipe.stage1", stage1_worker, shared).is_error() || supervisor.start().is_error()) {
        outcome.complete = false;
        outcome.problem = "could not start the stages";
        supervisor.finish();
        delete shared;
        return outcome;
    }
    auto source_task = task::spawn("fc.pipe.source", [shared] { source(*shared); });
    sink(*shared);
    if (!source_task.is_error())
        (void)source_task.value().join();
    outcome.requests = kBlocks;
    outcome.retries = shared->resent.load();
    if (shared->arrived_count.load() < kBlocks) {
        outcome.complete = false;
        outcome.problem = "blocks never arrived";
    }
    // The stop block follows everything sent: stage 0 ends after passing it on, stage 1 on it.
    Block stop{};
    stop.seq = kStopSeq;
    (void)shared->stage0_in.send(stop);
    supervisor.finish();
    delete shared;
    return outcome;
}

} // namespace delos::fault_workload
