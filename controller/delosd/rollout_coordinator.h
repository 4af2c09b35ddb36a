// rollout_coordinator.h: the rollout state machine (docs/fleet.md). The delosd that accepts a
// StartRollout coordinates it: it finds the guests of its fleet that run the cell, swaps the new
// version into a canary stage and then batches through each host's own Controller API (PushCell
// with the swap action, over mutual TLS), watches those hosts' fault and event streams while each
// stage bakes, and rolls every swapped guest back (RollbackCell) when the new version's fault
// rate passes the limit, a guest running it exits or reboots, a swap fails, or a user aborts.
// Every change of a rollout is committed to the RolloutStore before it is shown, and unfinished
// rollouts are resumed when delosd starts again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "delos/v1/controller.grpc.pb.h"
#include "rollout_store.h"

namespace grpc {
class ClientContext;
}
namespace prometheus {
class Registry;
class Gauge;
template <typename T>
class Family;
class Histogram;
}

namespace delos::controller {

struct CoordinatorSettings {
    v1::FleetFile fleet;     // no hosts: this delosd coordinates nothing (StartRollout is refused)
    std::string self_name;   // this delosd's name in the fleet (for the record)
    std::string state_dir;   // the store and objects/SHA256.o live here
    std::chrono::milliseconds call_timeout{60000};  // one swap, rollback or listing on a peer
    prometheus::Registry* metrics = nullptr;  // delos_rollouts{state}, delos_rollout_rollback_seconds
};

class RolloutCoordinator {
public:
    RolloutCoordinator(CoordinatorSettings settings);  // opens the store; throws StoreError
    ~RolloutCoordinator();  // stops the engines; unfinished rollouts stay in the store, resumed next start
    RolloutCoordinator(const RolloutCoordinator&) = delete;
    RolloutCoordinator& operator=(const RolloutCoordinator&) = delete;

    // Picks up every unfinished rollout of the store (after a restart).
    void resume_unfinished();

    v1::Rollout start(v1::RolloutSpec spec, const std::string& who);  // throws RpcError
    v1::Rollout get(std::uint64_t id);
    std::vector<v1::Rollout> list(bool active_only, std::uint32_t limit);
    v1::Rollout pause(std::uint64_t id, const std::string& who);
    v1::Rollout resume(std::uint64_t id, const std::string& who);
    v1::Rollout abort(std::uint64_t id, const std::string& who);
    // Waits up to `limit` for the rollout's revision to pass `after_revision`; returns the record.
    v1::Rollout wait_for_change(std::uint64_t id, std::uint64_t after_revision, std::chrono::milliseconds limit);
    bool coordinating() const { return !m_settings.fleet.hosts().empty(); }

private:
    struct Active;
    struct Watch;

    void run(Active& rollout);
    void resolve(Active& rollout);
    void swap_stage(Active& rollout);
    void swap_target(Active& rollout, std::size_t index);
    void roll_back(Active& rollout);
    void roll_back_target(Active& rollout, std::size_t index);
    void start_watches(Active& rollout);
    void stop_watches(Active& rollout);
    void watch_faults(Active& rollout, Watch& watch);
    void watch_events(Active& rollout, Watch& watch);
    void note_fault(Active& rollout, const std::string& host, const v1::FaultRecord& fault);
    void note_event(Active& rollout, const std::string& host, const v1::EventRecord& event);

    // With m_mutex held: bumps the revision, appends `message` to the log (if any), stores the
    // record and wakes watchers.
    void commit(Active& rollout, const std::string& message = {});
    Active& find(std::uint64_t id);  // with m_mutex held; throws RpcError NOT_FOUND
    std::shared_ptr<v1::Controller::Stub> stub(const std::string& host);
    // A client context with the call deadline, cancelled when the coordinator stops.
    std::shared_ptr<grpc::ClientContext> call_context(std::chrono::milliseconds timeout);
    void forget_context(grpc::ClientContext* context);

    CoordinatorSettings m_settings;
    std::unique_ptr<RolloutStore> m_store;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::map<std::uint64_t, std::unique_ptr<Active>> m_active;
    std::map<std::string, std::shared_ptr<v1::Controller::Stub>> m_stubs;
    std::set<grpc::ClientContext*> m_calls;
    bool m_stopping = false;
    prometheus::Family<prometheus::Gauge>* m_rollouts_gauge = nullptr;
    prometheus::Histogram* m_rollback_seconds = nullptr;
};

} // namespace delos::controller
