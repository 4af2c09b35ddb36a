// grpc_service.cpp: see grpc_service.h.
#include "grpc_service.h"

#include <grpcpp/grpcpp.h>

#include "cell_signature.h"
#include "daemon_log.h"
#include "rollout_plan.h"

namespace delos::controller {

namespace {

constexpr std::size_t kMaxChunkBytes = 4u << 20;

Deadline deadline_of(grpc::ServerContext* context)
{
    auto left = context->deadline() - std::chrono::system_clock::now();
    auto limit = std::chrono::minutes(10);  // no deadline given: still bounded
    if (left > limit)
        left = limit;
    return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

// Runs `work`, turning what it throws into the status the client sees.
template <typename Work>
grpc::Status guarded(const char* method, Work&& work)
{
    try {
        work();
        return grpc::Status::OK;
    } catch (const RpcError& error) {
        log_line("debug", "request refused", {{"method", method}, {"code", std::to_string(error.code())}, {"error", error.what()}});
        return grpc::Status(error.code(), error.what());
    } catch (const StoreError& error) {
        log_line("error", "store failure", {{"method", method}, {"error", error.what()}});
        return grpc::Status(grpc::StatusCode::INTERNAL, std::string("delosd's store failed: ") + error.what());
    } catch (const std::exception& error) {
        log_line("error", "request failed", {{"method", method}, {"error", error.what()}});
        return grpc::Status(grpc::StatusCode::INTERNAL, error.what());
    }
}

} // namespace

std::string caller_identity(grpc::ServerContext* context, const std::string& claimed)
{
    auto auth = context->auth_context();
    if (auth && auth->IsPeerAuthenticated()) {
        auto identity = auth->GetPeerIdentity();
        if (!identity.empty())
            return "tls:" + std::string(identity.front().data(), identity.front().size());
    }
    std::string name = claimed.substr(0, 64);
    return name.empty() ? "local" : "local:" + name;
}

grpc::Status ControllerService::CreateVm(grpc::ServerContext*, const v1::CreateVmRequest* request, v1::Vm* response)
{
    return guarded("CreateVm", [&] { *response = m_core.create_vm(request->spec()); });
}

grpc::Status ControllerService::ListVms(grpc::ServerContext*, const v1::ListVmsRequest*, v1::ListVmsResponse* response)
{
    return guarded("ListVms", [&] {
        for (v1::Vm& vm : m_core.list_vms())
            *response->add_vms() = std::move(vm);
    });
}

grpc::Status ControllerService::GetVm(grpc::ServerContext*, const v1::GetVmRequest* request, v1::Vm* response)
{
    return guarded("GetVm", [&] { *response = m_core.get_vm(request->name()); });
}

grpc::Status ControllerService::StopVm(grpc::ServerContext*, const v1::StopVmRequest* request, v1::Vm* response)
{
    return guarded("StopVm", [&] {
        if (request->grace_ms() > 600000)
            throw RpcError(grpc::StatusCode::INVALID_ARGUMENT, "grace_ms is at most 600000");
        *response = m_core.stop_vm(request->name(), std::chrono::milliseconds(request->grace_ms() ? request->grace_ms() : 3000));
    });
}

grpc::Status ControllerService::DeleteVm(grpc::ServerContext*, const v1::DeleteVmRequest* request, v1::DeleteVmResponse*)
{
    return guarded("DeleteVm", [&] { m_core.delete_vm(request->name()); });
}

grpc::Status ControllerService::PushCell(grpc::ServerContext* context, grpc::ServerReader<v1::PushCellRequest>* reader,
                                         v1::PushCellResponse* response)
{
    return guarded("PushCell", [&] {
        v1::PushCellRequest part;
        if (!reader->Read(&part))
            throw RpcError(grpc::StatusCode::INVALID_ARGUMENT, "empty push: the first message must be the header");
        if (!part.has_header())
            throw RpcError(grpc::StatusCode::INVALID_ARGUMENT, "the first message of a push must be its header");
        auto started = std::chrono::steady_clock::now();
        v1::PushCellHeader header = part.header();
        m_core.check_push_header(header);  // refuse early: unknown VM, bad name, unsigned, ...
        std::uint64_t received = 0;
        auto next_chunk = [&](std::string& chunk) {
            if (!reader->Read(&part)) {
                if (context->IsCancelled())
                    throw RpcError(grpc::StatusCode::CANCELLED, "the client cancelled the push");
                return false;
            }
            if (part.has_header())
                throw RpcError(grpc::StatusCode::INVALID_ARGUMENT, "a push carries one header, then only chunks");
            if (part.chunk().size() > kMaxChunkBytes)
                throw RpcError(grpc::StatusCode::INVALID_ARGUMENT, "a push chunk is at most 4 MiB");
            received += part.chunk().size();
            if (received > header.total_size())
                throw RpcError(grpc::StatusCode::INVALID_ARGUMENT,
                               "the push sent more bytes than the " + std::to_string(header.total_size()) + " it announced");
            chunk.swap(*part.mutable_chunk());
            return true;
        };
        *response = m_core.push_cell_stream(header, next_chunk, caller_identity(context, header.pushed_by()),
                                            deadline_of(context));
        char receive_ms[32];
        std::snprintf(receive_ms, sizeof receive_ms, "%.2f",
                      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        log_line("debug", "push done", {{"vm", header.vm()}, {"cell", header.cell()}, {"total_ms", receive_ms}});
    });
}

grpc::Status ControllerService::LoadCell(grpc::ServerContext* context, const v1::CellRequest* request, v1::CellResponse* response)
{
    return guarded("LoadCell", [&] {
        *response = m_core.load_cell(*request, caller_identity(context, request->requested_by()), deadline_of(context));
    });
}

grpc::Status ControllerService::UnloadCell(grpc::ServerContext* context, const v1::CellRequest* request,
                                           v1::CellResponse* response)
{
    return guarded("UnloadCell", [&] {
        *response = m_core.unload_cell(*request, caller_identity(context, request->requested_by()), deadline_of(context));
    });
}

grpc::Status ControllerService::SwapCell(grpc::ServerContext* context, const v1::CellRequest* request, v1::CellResponse* response)
{
    return guarded("SwapCell", [&] {
        *response = m_core.swap_cell(*request, caller_identity(context, request->requested_by()), deadline_of(context));
    });
}

grpc::Status ControllerService::RollbackCell(grpc::ServerContext* context, const v1::CellRequest* request,
                                             v1::CellResponse* response)
{
    return guarded("RollbackCell", [&] {
        *response = m_core.rollback_cell(*request, caller_identity(context, request->requested_by()), deadline_of(context));
    });
}

grpc::Status ControllerService::ListCells(grpc::ServerContext* context, const v1::ListCellsOnVmRequest* request,
                                          v1::ListCellsOnVmResponse* response)
{
    return guarded("ListCells", [&] {
        for (v1::CellInfo& cell : m_core.list_cells(request->vm(), deadline_of(context)))
            *response->add_cells() = std::move(cell);
    });
}

grpc::Status ControllerService::ListCellHistory(grpc::ServerContext*, const v1::ListCellHistoryRequest* request,
                                                v1::ListCellHistoryResponse* response)
{
    return guarded("ListCellHistory", [&] {
        for (v1::CellHistoryRecord& record : m_core.cell_history(request->vm(), request->cell()))
            *response->add_records() = std::move(record);
    });
}

grpc::Status ControllerService::ListFaults(grpc::ServerContext*, const v1::ListFaultsRequest* request,
                                           v1::ListFaultsResponse* response)
{
    return guarded("ListFaults", [&] { *response = m_core.list_faults(*request); });
}

grpc::Status ControllerService::WatchFaults(grpc::ServerContext* context, const v1::WatchFaultsRequest* request,
                                            grpc::ServerWriter<v1::FaultRecord>* writer)
{
    return guarded("WatchFaults", [&] {
        if (!v1::FaultKind_IsValid(request->filter().kind()))
            throw RpcError(grpc::StatusCode::INVALID_ARGUMENT, "unknown fault kind " + std::to_string(request->filter().kind()));
        m_core.check_vm_filter(request->filter().vm());
        FaultStore& store = m_core.store();
        std::uint64_t cursor = request->only_new() ? store.last_fault_sequence() : request->after_sequence();
        for (;;) {
            std::uint64_t changes = store.change_count();  // before the query: no wake-up is missed
            auto records = store.list_faults(request->filter(), cursor, 500);
            for (const v1::FaultRecord& record : records) {
                if (!writer->Write(record))
                    return;  // the client went away
                cursor = record.sequence();
            }
            if (records.size() == 500)
                continue;
            while (store.change_count() == changes) {
                if (context->IsCancelled() || m_shutting_down)
                    return;
                store.wait_for_change(changes, std::chrono::milliseconds(200));
            }
        }
    });
}

grpc::Status ControllerService::WatchEvents(grpc::ServerContext* context, const v1::WatchEventsRequest* request,
                                            grpc::ServerWriter<v1::EventRecord>* writer)
{
    return guarded("WatchEvents", [&] {
        m_core.check_vm_filter(request->vm());
        FaultStore& store = m_core.store();
        std::uint64_t cursor = request->only_new() ? store.last_event_sequence() : request->after_sequence();
        for (;;) {
            std::uint64_t changes = store.change_count();
            auto events = store.list_events(request->vm(), cursor, 500);
            for (const v1::EventRecord& event : events) {
                if (!writer->Write(event))
                    return;
                cursor = event.sequence();
            }
            if (events.size() == 500)
                continue;
            if (request->stored_only())
                return;
            while (store.change_count() == changes) {
                if (context->IsCancelled() || m_shutting_down)
                    return;
                store.wait_for_change(changes, std::chrono::milliseconds(200));
            }
        }
    });
}

grpc::Status ControllerService::GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                                         v1::GetStatsResponse* response)
{
    return guarded("GetStats", [&] { *response = m_core.stats(request->vm(), deadline_of(context)); });
}

grpc::Status ControllerService::StartRollout(grpc::ServerContext* context, const v1::StartRolloutRequest* request,
                                             v1::Rollout* response)
{
    return guarded("StartRollout", [&] {
        v1::RolloutSpec spec = request->spec();
        *response = m_rollouts.start(std::move(spec), caller_identity(context, request->spec().requested_by()));
    });
}

grpc::Status ControllerService::GetRollout(grpc::ServerContext*, const v1::GetRolloutRequest* request, v1::Rollout* response)
{
    return guarded("GetRollout", [&] { *response = m_rollouts.get(request->id()); });
}

grpc::Status ControllerService::ListRollouts(grpc::ServerContext*, const v1::ListRolloutsRequest* request,
                                             v1::ListRolloutsResponse* response)
{
    return guarded("ListRollouts", [&] {
        for (v1::Rollout& rollout : m_rollouts.list(request->active_only(), request->limit()))
            *response->add_rollouts() = std::move(rollout);
    });
}

grpc::Status ControllerService::WatchRollout(grpc::ServerContext* context, const v1::WatchRolloutRequest* request,
                                             grpc::ServerWriter<v1::Rollout>* writer)
{
    return guarded("WatchRollout", [&] {
        v1::Rollout rollout = m_rollouts.get(request->id());  // NOT_FOUND before the stream starts
        std::uint64_t sent = request->after_revision();
        for (;;) {
            if (rollout.revision() > sent) {
                if (!writer->Write(rollout))
                    return;
                sent = rollout.revision();
            }
            if (rollout_final(rollout.state()) || context->IsCancelled() || m_shutting_down)
                return;
            rollout = m_rollouts.wait_for_change(request->id(), sent, std::chrono::milliseconds(200));
        }
    });
}

grpc::Status ControllerService::PauseRollout(grpc::ServerContext* context, const v1::RolloutControlRequest* request,
                                             v1::Rollout* response)
{
    return guarded("PauseRollout",
                   [&] { *response = m_rollouts.pause(request->id(), caller_identity(context, request->requested_by())); });
}

grpc::Status ControllerService::ResumeRollout(grpc::ServerContext* context, const v1::RolloutControlRequest* request,
                                              v1::Rollout* response)
{
    return guarded("ResumeRollout",
                   [&] { *response = m_rollouts.resume(request->id(), caller_identity(context, request->requested_by())); });
}

grpc::Status ControllerService::AbortRollout(grpc::ServerContext* context, const v1::RolloutControlRequest* request,
                                             v1::Rollout* response)
{
    return guarded("AbortRollout",
                   [&] { *response = m_rollouts.abort(request->id(), caller_identity(context, request->requested_by())); });
}

} // namespace delos::controller
