// controller_core.h: what delosd does, apart from gRPC: the VM table, pushes with their checks
// (size, SHA-256, signature) before anything reaches a guest, guest requests through each
// VM's link, fault and event recording. Errors are RpcError with the gRPC status code and a
// message users can act on; grpc_service.cpp only translates. The fuzzer drives this class.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "daemon_metrics.h"
#include "fault_store.h"
#include "request_checks.h"
#include "streaming_push.h"
#include "vm_instance.h"

namespace delos::controller {


struct CoreSettings {
    RunnerSettings runner;
    bool allow_unsigned = false;
    std::string trusted_keys_dir;  // empty with allow_unsigned
    std::uint64_t max_cell_bytes = 64ull << 20;
};

using Deadline = std::chrono::steady_clock::time_point;

class ControllerCore final : public VmObserver {
public:
    // Opens the store and restarts every VM that was not stopped. Throws on a bad setting.
    ControllerCore(CoreSettings settings, DaemonMetrics& metrics);
    ~ControllerCore() override;

    v1::Vm create_vm(const v1::VmSpec& spec);
    // A VM libvirt discovery found: an attach spec with libvirt_domain/libvirt_uri set.
    v1::Vm adopt_discovered_vm(const v1::VmSpec& spec);
    std::vector<v1::Vm> list_vms();
    v1::Vm get_vm(const std::string& name);
    v1::Vm stop_vm(const std::string& name, std::chrono::milliseconds grace);
    void delete_vm(const std::string& name);

    // Checks and pushes a whole object; `who` goes to the history.
    v1::PushCellResponse push_cell(const v1::PushCellHeader& header, const std::string& object, const std::string& who,
                                   Deadline deadline);
    // The same, relaying the object to the guest while it arrives (`next_chunk` pulls the client's
    // chunks; an RpcError it throws ends the push). Nothing is committed unless size and SHA-256 match.
    v1::PushCellResponse push_cell_stream(const v1::PushCellHeader& header, const ChunkSource& next_chunk,
                                          const std::string& who, Deadline deadline);
    // Checks a push header on its own (before the chunks arrive), so a bad push fails early.
    void check_push_header(const v1::PushCellHeader& header);
    v1::CellResponse load_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline);
    v1::CellResponse unload_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline);
    v1::CellResponse swap_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline);
    v1::CellResponse rollback_cell(const v1::CellRequest& request, const std::string& who, Deadline deadline);
    std::vector<v1::CellInfo> list_cells(const std::string& vm, Deadline deadline);
    std::vector<v1::CellHistoryRecord> cell_history(const std::string& vm, const std::string& cell);

    v1::ListFaultsResponse list_faults(const v1::ListFaultsRequest& request);
    v1::GetStatsResponse stats(const std::string& vm, Deadline deadline);
    FaultStore& store() { return *m_store; }
    void check_vm_filter(const std::string& vm);  // NOT_FOUND for an unknown VM name (empty passes)

    // VmObserver.
    void vm_event(v1::EventRecord event) override;
    void guest_event(VmInstance& vm, const v1::Event& event) override;
    void vm_state_changed() override;

private:
    v1::CellResponse swap_or_rollback(const v1::CellRequest& request, const std::string& who, Deadline deadline,
                                      bool rollback);
    std::shared_ptr<VmInstance> find(const std::string& name);
    std::shared_ptr<VmInstance> find_running(const std::string& name);
    void check_spec(const v1::VmSpec& spec);
    v1::Vm add_vm(const v1::VmSpec& spec);  // after the checks
    std::string check_signature(const v1::PushCellHeader& header);
    template <typename Work>
    void on_guest(VmInstance& vm, Deadline deadline, Work&& work);
    // Stores the history rows (one per action, e.g. pushed then loaded) and their events in one commit.
    // One "swapped" or "rolled-back" history record and event per cell the guest replaced; `now`
    // describes the cells as they are after it (their sizes and hashes go into the records).
    std::uint64_t record_swap(const std::string& vm, const v1::CellSwapped& swapped, const std::vector<v1::CellInfo>& now,
                              const std::string& who, const std::string& signer);
    void record_guest_recovery(const std::string& vm, std::uint64_t boot, const v1::FaultReport& report,
                               std::uint64_t fault_sequence);
    std::uint64_t record_cell(const std::string& vm, const v1::CellInfo& cell, const std::vector<std::string>& actions,
                              const std::string& who, const std::string& signer);

    CoreSettings m_settings;
    DaemonMetrics& m_metrics;
    std::unique_ptr<FaultStore> m_store;
    std::map<std::string, std::string> m_trusted_keys;  // raw key -> file name
    std::mutex m_mutex;
    std::map<std::string, std::shared_ptr<VmInstance>> m_vms;
    std::atomic<std::uint64_t> m_pushes{0};
    std::chrono::steady_clock::time_point m_started = std::chrono::steady_clock::now();
};

} // namespace delos::controller
