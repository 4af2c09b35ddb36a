// kernel_control_backend.h: the channel engine's view of this kernel: a thin adapter over the
// cell manager (load, unload, what is loaded), the frame allocator and heap (push budget,
// stats), the task registry and the console's captured log lines.
#pragma once

#include "lib/control/control_backend.h"

namespace delos::control {

class KernelControlBackend final : public ControlBackend {
public:
    StringView kernel_version() const override;
    std::uint64_t boot_ns() const override;
    std::uint64_t uptime_ns() const override;
    std::uint64_t free_memory_bytes() const override;

    std::uint32_t loaded_cell_count() const override;
    bool is_loaded(StringView name) const override;
    void describe_loaded_cells(Vector<channel::CellInfo>& into) const override;
    ErrorOr<channel::LoadCellReply> load_from_archive(StringView name) override;
    ErrorOr<channel::LoadCellReply> load_staged(const StagedCell& cell) override;
    ErrorOr<void> unload(StringView name) override;
    StringView failure_detail() const override;

    void fill_stats(channel::StatsReply& stats) const override;
    bool take_event(channel::Event& event) override;
};

} // namespace delos::control
