// kernel_control_backend.cpp: ControlBackend over loader::cell_manager() and the kernel's counters.
#include "control/kernel_control_backend.h"

#include "arch/x86_64/tsc.h"
#include "control/log_forwarder.h"
#include "kernel/kernel.h"
#include "lib/control/cell_pushes.h"
#include "lib/link/loaded_cell.h"
#include "loader/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "task/task_registry.h"

namespace delos::control {

namespace {

using namespace channel;

constexpr StringView kKernelVersion = "delos 0.1.0";

CellInfo describe_loaded(const link::LoadedCell& cell)
{
    CellInfo info;
    info.name = String(cell.name());
    info.version = String(cell.version());
    info.state = CellState::Loaded;
    info.generation = 1;
    info.section_count = static_cast<std::uint32_t>(cell.sections().size());
    info.text_bytes = cell.region(link::SectionKind::Text).size;
    info.rodata_bytes = cell.region(link::SectionKind::ReadOnly).size;
    info.data_bytes = cell.region(link::SectionKind::Data).size;
    for (const link::LoadedCell* used : cell.cells_used())
        info.dependencies.append(String(used->name()));
    return info;
}

// The reply for a load: the cell, and every cell the load added besides it.
LoadCellReply describe_load(const link::LoadedCell& loaded, std::size_t cells_before)
{
    LoadCellReply reply;
    reply.cell = describe_loaded(loaded);
    const auto& cells = loader::cell_manager().cell_namespace().cells();
    for (std::size_t i = cells_before; i < cells.size(); ++i) {
        if (cells[i].get() != &loaded)
            reply.also_loaded.append(String(cells[i]->name()));
    }
    return reply;
}

std::size_t cell_count() { return loader::cell_manager().cell_namespace().cells().size(); }

} // namespace

StringView KernelControlBackend::kernel_version() const { return kKernelVersion; }
std::uint64_t KernelControlBackend::boot_ns() const { return kernel::boot_ns(); }
std::uint64_t KernelControlBackend::uptime_ns() const { return tsc::nanoseconds_since_boot(); }

std::uint64_t KernelControlBackend::free_memory_bytes() const
{
    return memory::frame_allocator().free_frames() * memory::kPageSize;
}

std::uint32_t KernelControlBackend::loaded_cell_count() const { return static_cast<std::uint32_t>(cell_count()); }

bool KernelControlBackend::is_loaded(StringView name) const
{
    return loader::cell_manager().cell_namespace().find_cell(name) != nullptr;
}

void KernelControlBackend::describe_loaded_cells(Vector<CellInfo>& into) const
{
    for (const auto& cell : loader::cell_manager().cell_namespace().cells())
        into.append(describe_loaded(*cell));
}

ErrorOr<LoadCellReply> KernelControlBackend::load_from_archive(StringView name)
{
    std::size_t before = cell_count();
    link::LoadedCell* loaded = TRY(loader::cell_manager().load(name));
    return describe_load(*loaded, before);
}

ErrorOr<LoadCellReply> KernelControlBackend::load_staged(const StagedCell& cell)
{
    std::size_t before = cell_count();
    link::LoadedCell* loaded = TRY(loader::cell_manager().load_object(ByteView(cell.bytes.data(), cell.bytes.size())));
    return describe_load(*loaded, before);
}

ErrorOr<void> KernelControlBackend::unload(StringView name) { return loader::cell_manager().unload(name); }

StringView KernelControlBackend::failure_detail() const { return loader::cell_manager().last_failure(); }

void KernelControlBackend::fill_stats(StatsReply& stats) const
{
    auto& frames = memory::frame_allocator();
    auto heap = memory::heap_statistics();
    stats.frames_total = frames.total_frames();
    stats.frames_free = frames.free_frames();
    stats.memory_total_bytes = kernel::boot_info().ram_end();
    stats.memory_free_bytes = frames.free_frames() * memory::kPageSize;
    stats.heap_used_bytes = heap.bytes_in_use;
    stats.heap_capacity_bytes = heap.pages_held * memory::kPageSize;
    stats.task_count = static_cast<std::uint32_t>(task::registry::live_count());
    stats.uptime_ns = tsc::nanoseconds_since_boot();
    stats.cell_count = static_cast<std::uint32_t>(cell_count());
}

bool KernelControlBackend::take_event(Event& event)
{
    LogLine line;
    if (!take_log_line(line))
        return false;
    event = Event();
    event.kind = Event::Kind::LogLine;
    event.log_line = static_cast<LogLine&&>(line);
    return true;
}

} // namespace delos::control
