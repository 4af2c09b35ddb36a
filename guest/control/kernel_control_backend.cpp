// kernel_control_backend.cpp: ControlBackend over the cell manager's query and load API
// (loader::cell_manager()) and the kernel's counters.
#include "control/kernel_control_backend.h"

#include "arch/x86_64/tsc.h"
#include "control/log_forwarder.h"
#include "control/cell_recovery_info.h"
#include "control/fault_reports.h"
#include "lib/control/cell_pushes.h"
#include "lib/core/format.h"
#include "platform/boot_facts.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/page_table.h"
#include "task/spawn.h"
#include "task/stack_cache.h"
#include "recovery/fault_log.h"
#include "task/task.h"
#include "task/task_registry.h"

namespace delos::control {

namespace {

using namespace channel;

constexpr StringView kKernelVersion = "delos 0.1.0";

CellInfo describe_loaded(const loader::CellSummary& cell)
{
    CellInfo info;
    info.name = cell.name;
    info.version = cell.version;
    // Loading and unloading happen under the manager's lock, which queries wait for: a cell
    // seen here is loaded, or retiring after a swap.
    info.state = cell.state == loader::CellState::Unloading ? CellState::Retiring : CellState::Loaded;
    info.generation = cell.generation;
    info.section_count = cell.section_count;
    info.text_bytes = cell.text_bytes;
    info.rodata_bytes = cell.rodata_bytes;
    info.data_bytes = cell.data_bytes;
    info.object_bytes = cell.object_bytes;
    info.dependencies = cell.dependencies;
    info.task_count = cell.task_count;
    info.cell_id = cell.id;
    info.build_id = cell.build_id;
    if (info.state == CellState::Loaded)
        describe_recovery(cell.name.view(), info);  // fault recovery's policy and record
    return info;
}

LoadCellReply describe_load(loader::LoadResult& loaded)
{
    LoadCellReply reply;
    reply.cell = describe_loaded(loaded.cell);
    reply.also_loaded = static_cast<Vector<String>&&>(loaded.also_loaded);
    return reply;
}

// Live tasks grouped by the cell they run in: the kernel's first, then the cells in order.
Vector<CellTasks> tasks_by_cell(const Vector<loader::CellSummary>& cells)
{
    struct Row {
        task::CellId cell;
        char name[task::kTaskNameLength];
    };
    // Copied out under the registry lock (it masks interrupts), grouped afterwards.
    constexpr std::size_t kMaxRows = 256;
    static Row rows[kMaxRows];
    std::size_t count = 0;
    task::registry::for_each([&](task::Task& task) {
        if (count == kMaxRows)
            return;
        rows[count].cell = task.cell();
        __builtin_memcpy(rows[count].name, task.name(), task::kTaskNameLength);
        ++count;
    });
    Vector<CellTasks> groups;
    auto group_for = [&](task::CellId cell, StringView name) {
        CellTasks group;
        group.cell_id = cell;
        group.cell = String(name);
        for (std::size_t i = 0; i < count; ++i) {
            if (rows[i].cell != cell)
                continue;
            ++group.task_count;
            if (group.task_names.size() < kMaxListedTaskNames)
                group.task_names.append(String(StringView(rows[i].name)));
        }
        if (cell == task::kKernelCell || group.task_count > 0)
            groups.append(static_cast<CellTasks&&>(group));
    };
    group_for(task::kKernelCell, StringView());
    for (const loader::CellSummary& cell : cells)
        group_for(cell.id, cell.name.view());
    return groups;
}

CellSwapped describe_swap(const link::SwapReport& report)
{
    CellSwapped out;
    for (const link::SwappedCell& cell : report.cells) {
        SwappedCell swapped;
        swapped.name = cell.name;
        swapped.old_version = cell.old_version;
        swapped.new_version = cell.new_version;
        swapped.old_generation = cell.old_generation;
        swapped.new_generation = cell.new_generation;
        swapped.state_layout = cell.state_layout;
        out.cells.append(static_cast<SwappedCell&&>(swapped));
    }
    using link::SwapStage;
    out.timing.load_ns = report.stage_ns[static_cast<int>(SwapStage::Load)];
    out.timing.link_ns = report.stage_ns[static_cast<int>(SwapStage::Link)];
    out.timing.verify_ns = report.stage_ns[static_cast<int>(SwapStage::Verify)];
    out.timing.transfer_ns = report.stage_ns[static_cast<int>(SwapStage::Transfer)];
    out.timing.repoint_ns = report.stage_ns[static_cast<int>(SwapStage::Repoint)];
    out.timing.cleanup_ns = report.stage_ns[static_cast<int>(SwapStage::Cleanup)];
    out.timing.total_ns = report.total_ns;
    out.relocations_repointed = report.relocations_repointed;
    out.retiring_cells = static_cast<std::uint32_t>(loader::cell_manager().retiring_cells().size());
    for (const String& name : report.also_loaded)
        out.also_loaded.append(name);
    return out;
}

} // namespace

StringView KernelControlBackend::kernel_version() const { return kKernelVersion; }
std::uint64_t KernelControlBackend::boot_ns() const { return platform::boot_ns(); }
StringView KernelControlBackend::boot_id() const { return task::boot_id(); }
std::uint64_t KernelControlBackend::uptime_ns() const { return tsc::nanoseconds_since_boot(); }

std::uint64_t KernelControlBackend::free_memory_bytes() const
{
    return memory::frame_allocator().free_frames() * memory::kPageSize;
}

std::uint32_t KernelControlBackend::loaded_cell_count() const
{
    return static_cast<std::uint32_t>(loader::cell_manager().cell_count());
}

bool KernelControlBackend::is_loaded(StringView name) const { return loader::cell_manager().is_loaded(name); }

void KernelControlBackend::describe_loaded_cells(Vector<CellInfo>& into) const
{
    loader::cell_manager().collect_retired();
    for (const loader::CellSummary& cell : loader::cell_manager().cells())
        into.append(describe_loaded(cell));
    for (const loader::CellSummary& cell : loader::cell_manager().retiring_cells()) {
        CellInfo info = describe_loaded(cell);
        info.state = CellState::Retiring;
        into.append(static_cast<CellInfo&&>(info));
    }
}

ErrorOr<LoadCellReply> KernelControlBackend::load_from_archive(StringView name)
{
    loader::LoadResult loaded = TRY(loader::cell_manager().load(name));
    return describe_load(loaded);
}

ErrorOr<LoadCellReply> KernelControlBackend::load_staged(const StagedCell& cell)
{
    loader::LoadResult loaded = TRY(loader::cell_manager().load_object(ByteView(cell.bytes.data(), cell.bytes.size())));
    return describe_load(loaded);
}

ErrorOr<void> KernelControlBackend::unload(StringView name) { return loader::cell_manager().unload(name); }

ErrorOr<void> KernelControlBackend::run_cell_operation(UniqueFunction<void()> work)
{
    auto worker = TRY(task::spawn("control-cells", [work = static_cast<UniqueFunction<void()>&&>(work)]() mutable { work(); }));
    worker.detach();
    return {};
}

ErrorOr<CellSwapped> KernelControlBackend::swap_cells(const Vector<SwapSource>& sources)
{
    // The new objects: staged pushes (the engine keeps them staged until the swap succeeds) or
    // boot-archive versions.
    Vector<link::SwapPair> pairs;
    Vector<link::BuildId> build_ids;  // by pair; the pairs view them
    build_ids.reserve(sources.size());
    for (const SwapSource& source : sources) {
        ByteView object;
        bool persistent = false;
        link::BuildId build_id;
        if (source.staged) {
            object = ByteView(source.staged->bytes.data(), source.staged->bytes.size());
            build_id = link::BuildId::from_digest(source.staged->sha256);  // verified when the push was committed
        } else if (const link::CellLibrary* library = loader::cell_manager().library();
                   library && library->find_version(source.object_name)) {
            object = library->find_version(source.object_name)->object;
            persistent = true;  // the boot archive stays in memory
        } else {
            return Error::make(ErrorCode::NotFound, "no staged cell or archived version for the new object")
                .with_detail(format("no staged cell and no boot-archive version is called {} (push it first)", source.object_name));
        }
        build_ids.append(build_id);
        pairs.append(link::SwapPair{source.old_cell, object, persistent});
    }
    for (std::size_t i = 0; i < pairs.size(); ++i)
        pairs[i].build_id = build_ids[i].view();
    link::SwapReport report = TRY(loader::cell_manager().swap(pairs));
    return describe_swap(report);
}

ErrorOr<RecoveryPolicyInfo> KernelControlBackend::set_recovery_policy(StringView cell, const RecoveryPolicyInfo& policy)
{
    return set_recovery_policy_from(cell, policy);
}

ErrorOr<CellSwapped> KernelControlBackend::rollback_cell(StringView name)
{
    link::SwapReport report = TRY(loader::cell_manager().rollback(name));
    return describe_swap(report);
}

void KernelControlBackend::fill_stats(StatsReply& stats) const
{
    auto& frames = memory::frame_allocator();
    auto heap = memory::heap_statistics();
    stats.frames_total = frames.total_frames();
    stats.frames_free = frames.free_frames();
    stats.memory_total_bytes = platform::boot_info().ram_end();
    stats.memory_free_bytes = frames.free_frames() * memory::kPageSize;
    stats.heap_used_bytes = heap.bytes_in_use;
    stats.heap_capacity_bytes = heap.pages_held * memory::kPageSize;
    stats.task_count = static_cast<std::uint32_t>(task::registry::live_count());
    stats.uptime_ns = tsc::nanoseconds_since_boot();
    Vector<loader::CellSummary> cells = loader::cell_manager().cells();
    stats.cell_count = static_cast<std::uint32_t>(cells.size());
    stats.tasks_by_cell = tasks_by_cell(cells);
    memory::PageTableStatistics paging = memory::kernel_page_table().statistics();
    stats.page_table_frames = paging.table_frames;
    stats.page_table_leaf_writes = paging.leaf_writes;
    stats.page_table_structure_writes = paging.structure_writes;
    stats.tlb_page_invalidations = paging.page_invalidations;
    stats.tlb_full_flushes = paging.full_flushes;
    stats.stack_cache_frames = task::stack_cache::cached_count() * (task::stack_cache::kDefaultStackPages + 1);
}

bool KernelControlBackend::take_event(Event& event)
{
    LogLine line;
    if (take_log_line(line)) {
        event = Event();
        event.kind = Event::Kind::LogLine;
        event.log_line = static_cast<LogLine&&>(line);
        return true;
    }
    return take_fault_report(event);
}

ErrorOr<channel::ListRecentFaultsReply> KernelControlBackend::list_recent_faults()
{
    task::MutexGuard guard(m_fault_copy_lock);  // entries are ~2 KiB: one copy out at a time
    return list_recent_faults_reply();
}

// Contained faults (the fault log) as FaultReport events, each once, in order. The agent and
// cell-operation tasks both forward: whoever claims a fault's sequence sends it.
bool KernelControlBackend::take_fault_report(Event& event)
{
    static task::FaultLogEntry entry;  // ~1.7 KiB: too big for a task's stack; guarded by the claim below
    for (;;) {
        std::uint64_t after = __atomic_load_n(&m_faults_forwarded, __ATOMIC_ACQUIRE);
        {
            task::MutexGuard guard(m_fault_copy_lock);
            if (!task::copy_fault_after(after, entry))
                return false;
            if (!__atomic_compare_exchange_n(&m_faults_forwarded, &after, entry.sequence, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE))
                continue;
            event = Event();
            event.kind = Event::Kind::FaultReport;
            event.fault_report = fault_report_of(entry);
        }
        return true;
    }
}

} // namespace delos::control
