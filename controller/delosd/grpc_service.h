// grpc_service.h: delos.v1.Controller over gRPC: translates requests to ControllerCore calls
// and RpcError to gRPC statuses, streams pushes in and faults and events out (the watches
// resume from a sequence number and end when the client cancels or delosd shuts down).
#pragma once

#include <atomic>

#include "controller_core.h"
#include "rollout_coordinator.h"
#include "delos/v1/controller.grpc.pb.h"

namespace delos::controller {

class ControllerService final : public v1::Controller::Service {
public:
    ControllerService(ControllerCore& core, RolloutCoordinator& rollouts) : m_core(core), m_rollouts(rollouts) {}
    // Ends every watch stream (before the server shuts down, which waits for them).
    void shut_down() { m_shutting_down = true; }

    grpc::Status CreateVm(grpc::ServerContext*, const v1::CreateVmRequest*, v1::Vm*) override;
    grpc::Status ListVms(grpc::ServerContext*, const v1::ListVmsRequest*, v1::ListVmsResponse*) override;
    grpc::Status GetVm(grpc::ServerContext*, const v1::GetVmRequest*, v1::Vm*) override;
    grpc::Status StopVm(grpc::ServerContext*, const v1::StopVmRequest*, v1::Vm*) override;
    grpc::Status DeleteVm(grpc::ServerContext*, const v1::DeleteVmRequest*, v1::DeleteVmResponse*) override;
    grpc::Status PushCell(grpc::ServerContext*, grpc::ServerReader<v1::PushCellRequest>*, v1::PushCellResponse*) override;
    grpc::Status LoadCell(grpc::ServerContext*, const v1::CellRequest*, v1::CellResponse*) override;
    grpc::Status UnloadCell(grpc::ServerContext*, const v1::CellRequest*, v1::CellResponse*) override;
    grpc::Status SwapCell(grpc::ServerContext*, const v1::CellRequest*, v1::CellResponse*) override;
    grpc::Status RollbackCell(grpc::ServerContext*, const v1::CellRequest*, v1::CellResponse*) override;
    grpc::Status ListCells(grpc::ServerContext*, const v1::ListCellsOnVmRequest*, v1::ListCellsOnVmResponse*) override;
    grpc::Status ListCellHistory(grpc::ServerContext*, const v1::ListCellHistoryRequest*,
                                 v1::ListCellHistoryResponse*) override;
    grpc::Status ListFaults(grpc::ServerContext*, const v1::ListFaultsRequest*, v1::ListFaultsResponse*) override;
    grpc::Status WatchFaults(grpc::ServerContext*, const v1::WatchFaultsRequest*, grpc::ServerWriter<v1::FaultRecord>*) override;
    grpc::Status WatchEvents(grpc::ServerContext*, const v1::WatchEventsRequest*, grpc::ServerWriter<v1::EventRecord>*) override;
    grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*, v1::GetStatsResponse*) override;
    grpc::Status StartRollout(grpc::ServerContext*, const v1::StartRolloutRequest*, v1::Rollout*) override;
    grpc::Status GetRollout(grpc::ServerContext*, const v1::GetRolloutRequest*, v1::Rollout*) override;
    grpc::Status ListRollouts(grpc::ServerContext*, const v1::ListRolloutsRequest*, v1::ListRolloutsResponse*) override;
    grpc::Status WatchRollout(grpc::ServerContext*, const v1::WatchRolloutRequest*, grpc::ServerWriter<v1::Rollout>*) override;
    grpc::Status PauseRollout(grpc::ServerContext*, const v1::RolloutControlRequest*, v1::Rollout*) override;
    grpc::Status ResumeRollout(grpc::ServerContext*, const v1::RolloutControlRequest*, v1::Rollout*) override;
    grpc::Status AbortRollout(grpc::ServerContext*, const v1::RolloutControlRequest*, v1::Rollout*) override;

private:
    ControllerCore& m_core;
    RolloutCoordinator& m_rollouts;
    std::atomic<bool> m_shutting_down{false};
};

// Who is calling: the verified TLS identity if there is one, else what the client says it is
// (on the owner-only unix socket only the owner can connect anyway).
std::string caller_identity(grpc::ServerContext* context, const std::string& claimed);

} // namespace delos::controller
