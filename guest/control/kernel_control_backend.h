// kernel_control_backend.h: the channel engine's view of this kernel: a thin adapter over the
// cell manager's service API (load, unload, swap, what is loaded), the frame allocator and heap
// (push budget, stats), the task registry and the console's captured log lines.
#pragma once

#include "lib/control/control_backend.h"
#include "task/mutex.h"

namespace delos::control {

// Not final: the selftest runs the engine over a backend whose cell operations run at once.
class KernelControlBackend : public ControlBackend {
public:
    StringView kernel_version() const override;
    std::uint64_t boot_ns() const override;
    StringView boot_id() const override;
    std::uint64_t uptime_ns() const override;
    std::uint64_t free_memory_bytes() const override;

    std::uint32_t loaded_cell_count() const override;
    bool is_loaded(StringView name) const override;
    void describe_loaded_cells(Vector<channel::CellInfo>& into) const override;
    ErrorOr<channel::LoadCellReply> load_from_archive(StringView name) override;
    ErrorOr<channel::LoadCellReply> load_staged(const StagedCell& cell) override;
    ErrorOr<void> unload(StringView name) override;
    // A cell's init may sleep or wait: loads and unloads run in a task of their own.
    ErrorOr<void> run_cell_operation(UniqueFunction<void()> work) override;
    ErrorOr<channel::CellSwapped> swap_cells(const Vector<SwapSource>& sources) override;
    ErrorOr<channel::CellSwapped> rollback_cell(StringView name) override;
    ErrorOr<channel::RecoveryPolicyInfo> set_recovery_policy(StringView cell, const channel::RecoveryPolicyInfo& policy) override;

    void fill_stats(channel::StatsReply& stats) const override;
    ErrorOr<channel::ListRecentFaultsReply> list_recent_faults() override;
    bool take_event(channel::Event& event) override;

private:
    bool take_fault_report(channel::Event& event);

    std::uint64_t m_faults_forwarded = 0;  // the last fault sequence sent (claimed atomically)
    task::Mutex m_fault_copy_lock;          // one copy out of the fault log at a time
};

} // namespace delos::control
