// cell_manager.h: the cell manager, the one boundary through which the kernel, the control
// agent (and later live evolution and fault recovery) load, unload and inspect cells. It owns
// the linker's namespace (the kernel's exports and every loaded cell), the boot archive that
// cells and their dependencies come from, the directory that numbers cells and maps code
// addresses to them, and the hooks (atexit, backtrace symbols, the tasks' cell resolver).
//
// Loads and unloads are serialised by a sleeping lock (task::Mutex), never by masking
// interrupts: cell constructors, init, fini and destructors run in tasks of their own
// (TaskEntryInvoker), may block, and the rest of the system keeps running meanwhile.
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/cells/cell_directory.h"
#include "lib/cells/cell_summary.h"
#include "lib/core/error_or.h"
#include "lib/core/format.h"
#include "linker/cell_library.h"
#include "linker/entry_invoker.h"
#include "linker/namespace.h"
#include "lib/core/own_ptr.h"
#include "linker/kernel/kernel_section_memory.h"
#include "runtime/frame_tables.h"
#include "linker/kernel/kernel_task_inspector.h"
#include "sync/spin_lock.h"
#include "task/mutex.h"

namespace delos::loader {

using cells::CellId;
using cells::CellState;
using cells::CellSummary;
using cells::SectionSummary;

class CellManager;

// Runs each cell entry in a task of its own, tagged with the cell, and joins it: an entry may
// sleep or wait, and (once fault recovery lands) a fault in it ends that task, not the kernel.
// Before the scheduler runs, entries are called directly.
class TaskEntryInvoker final : public link::EntryInvoker {
public:
    explicit TaskEntryInvoker(CellManager& manager) : m_manager(manager) {}
    ErrorOr<void> call_init(StringView cell, link::CellInitFunction init) override;
    void call(StringView cell, link::EntryKind kind, void (*function)()) override;

    // The task running an entry now (0: none), so a load from inside an entry is refused
    // instead of waiting for itself.
    task::TaskId running_entry_task() const { return __atomic_load_n(&m_running, __ATOMIC_ACQUIRE); }

private:
    CellManager& m_manager;
    task::TaskId m_running = task::kKernelOwner;
};

// What is about to happen or has happened to a loaded cell, for fault recovery's bookkeeping
// (guest/recovery_policy/: a cell's service tasks stop before its code goes; a swap starts the
// window in which a fault rolls it back).
enum class CellChange : std::uint8_t { Swap, Rollback, Reload, Unload, Quarantine };
const char* cell_change_name(CellChange change);
struct CellChangeHooks {
    // Before the change, outside the manager's lock (may sleep; must not load or unload cells).
    void (*before)(StringView cell, CellChange change) = nullptr;
    // A change took effect: called inside the change, before any task can run the cells' new code
    // (the manager's lock held, interrupts masked): it must not block, allocate or call the
    // manager. So fault recovery's rollback window is open before a new version's first call,
    // which may fault at once. `previous_kept`: a rollback target exists.
    void (*committed)(StringView cell, CellChange change, std::uint32_t generation, bool previous_kept) = nullptr;
};

// The routine a quarantined cell's users call instead of its code: ud2, a #UD at a known
// address that fault containment turns into the caller's task ending Faulted ("call refused").
extern "C" void delos_quarantined_cell_called();

// What a load did: the cell asked for, and the cells loaded with it as its dependencies.
struct LoadResult {
    CellSummary cell;
    Vector<String> also_loaded;
};

class CellManager {
public:
    CellManager() : m_invoker(*this) {}

    // Takes the boot archive (may be empty: then only pushed objects can be loaded), installs
    // the atexit and symbolizer hooks and the tasks' cell resolver.
    ErrorOr<void> initialize(ByteView boot_archive);

    // Loads every cell of the boot archive that is not loaded yet; returns how many were loaded
    // (a cell's dependencies are loaded with it).
    ErrorOr<std::size_t> load_boot_set();
    ErrorOr<LoadResult> load(StringView name);
    // Links an object that is not in the archive (e.g. pushed over the control channel); its
    // dependencies come from the archive. The bytes are not kept.
    ErrorOr<LoadResult> load_object(ByteView object);
    // Refused (Busy) while another cell uses it or a task still runs in it.
    ErrorOr<void> unload(StringView name);

    // Live evolution (docs/live-evolution.md): replaces loaded cells by new versions (object
    // bytes, copied) as one transaction. While a task is inside a cell whose state is handed
    // over, the swap is refused with nothing changed and retried (sleeping 1 ms between tries)
    // up to kSwapAttempts times. Old versions retire until no task's stack refers to them; each
    // swap also releases retiring cells that are free by now.
    static constexpr int kSwapAttempts = 200;
    ErrorOr<link::SwapReport> swap(const Vector<link::SwapPair>& pairs);
    // Swaps `name` back to the generation it replaced (its object is kept).
    ErrorOr<link::SwapReport> rollback(StringView name);
    // Fault recovery (docs/fault-recovery.md): replaces `name` by a fresh copy of itself, linked
    // from its pristine object (the boot archive's bytes, or the copy kept of a pushed object):
    // new text and data, constructors and init run again, no state handed over, every dependent
    // re-pointed, the old copy retiring like a swapped-out version; generation + 1. The generation
    // kept for rollback does not change. Refused (nothing changed) as a swap would be refused.
    ErrorOr<link::SwapReport> reload(StringView name);
    // Quarantines `name`: every other cell's reference to its code is rewritten to
    // delos_quarantined_cell_called, and symbol_address() refuses its exports. A reload or swap
    // of the cell lifts it. Returns how many references were rewritten.
    ErrorOr<std::uint32_t> quarantine(StringView name);
    bool is_quarantined(StringView name);
    void set_change_hooks(CellChangeHooks hooks) { m_hooks = hooks; }
    // Releases retiring cells no task refers to any more; returns how many.
    std::size_t collect_retired();
    // Old versions still retiring (state Unloading in their summaries' directory terms: gone
    // from the namespace's names, kept until no task refers to them).
    Vector<CellSummary> retiring_cells();

    // Queries: copies, taken under the manager's lock (they wait for a load in progress).
    std::size_t cell_count();
    bool is_loaded(StringView name);
    Vector<CellSummary> cells();
    ErrorOr<CellSummary> cell(StringView name, bool with_sections = false);
    // The region a loaded cell's code (all its text sections) was placed in.
    ErrorOr<cells::CodeRange> code_range(StringView name);
    // The address a loaded cell (or the kernel) exports `symbol` at.
    ErrorOr<std::uint64_t> symbol_address(StringView symbol);
    // Live tasks whose cell is `id` (kKernelCell: the kernel's own tasks).
    std::uint32_t task_count(CellId id);
    // Without the lock, never blocking (any task, interrupt context): the committed cell whose
    // code holds `address`, and a cell's name by number ("" if it is unknown or gone).
    CellId cell_at(std::uint64_t address);
    // Likewise: the name of the committed cell whose code region holds `address`, copied into
    // `out` (NUL-terminated); false if none does. Unlike a symbol lookup it also answers for the
    // bytes between a cell's functions and after its last one (a jump into them is that cell's).
    bool copy_name_of_cell_at(std::uint64_t address, char* out, std::size_t capacity);
    // Whether the namespace holds still now (see kernel_symbols::external_symbolizer_quiescent).
    bool records_quiescent() const { return !m_lock.is_locked() || m_invoker.running_entry_task() != task::kKernelOwner; }
    String cell_name(CellId id);
    // Without the lock, never blocking: the number of the cell called `name` (loading, live or
    // unloading), kKernelCell if there is none.
    CellId id_of(StringView name);
    // Without the lock, never blocking: the generation of the committed (live) cell `name`, 0 if
    // none is (not loaded, or still loading).
    std::uint32_t live_generation(StringView name);

    const link::CellLibrary* library() const { return m_library ? m_library.get() : nullptr; }
    std::uint64_t section_bytes_in_use() const { return m_memory.bytes_in_use(); }
    // Name, version, sections (address ranges, sizes, rights) and dependencies of every cell.
    void describe(FormatSink& sink);

    // The linker's namespace itself, for the loader's own glue (atexit, symbolizer) and the
    // linker's tests. Everything else uses the queries above.
    link::Namespace& cell_namespace() { return *m_namespace; }

    // Deprecated: each refusal's Error carries its own detail (Error::explanation()).
    StringView last_failure() const { return m_namespace->last_failure(); }

    // For the fault selftests: the manager's lock taken and given back as a load takes it, so that
    // a fault can be made while a load is "midway" (records_quiescent() false).
    ErrorOr<void> lock_for_test() { return lock(); }
    void unlock_for_test() { unlock(); }

    // The task whose stack last kept a retiring cell (a conservative scan's finding), for reports.
    const char* last_stack_referrer() const { return m_inspector.last_referrer(); }

private:
    friend class TaskEntryInvoker;

    ErrorOr<void> lock();
    void unlock() { m_lock.unlock(); }
    // Directory records for what a successful load committed; the root's summary and the rest.
    LoadResult adopt_loaded(link::LoadedCell* root, std::size_t cells_before);
    // Adds to the namespace the kernel symbols that `object` imports, straight from the kernel's
    // embedded table, so the namespace never copies thousands of names it does not need.
    ErrorOr<void> export_kernel_symbols_for(ByteView object);
    ErrorOr<void> export_kernel_symbols_for_library();
    CellId id_for_entry(StringView cell);
    // Without task_count, which callers fill (one registry pass serves many cells).
    CellSummary summary_of(const link::LoadedCell& cell, bool with_sections);
    // Unwinding through cells: registers the .eh_frame of every cell loaded or being loaded
    // (relocated, before its constructors: TaskEntryInvoker calls it before each constructor and
    // init, so a fault in one is contained) and unregisters those of cells that are gone. Under
    // the manager's lock (or from an entry of the load holding it).
    void sync_frame_tables();

    struct CellFrameTable {
        const link::LoadedCell* cell;
        unwinding::FrameTableHandle table;
    };
    Vector<CellFrameTable> m_frame_tables;
    // One swap or rollback, retried while a task is inside a cell whose state is handed over.
    template <typename Operation>
    ErrorOr<link::SwapReport> run_swap(Operation operation, CellChange change);
    // Inside run_swap's transaction, after it succeeded: the new code ranges for the tasks' cell
    // resolver and the `committed` hook, before any task runs the new code.
    void commit_swap(const link::SwapReport& report, CellChange change);
    CellChangeHooks m_hooks;

    KernelSectionMemory m_memory;
    TaskEntryInvoker m_invoker;
    KernelTaskInspector m_inspector;
    // During a swap, entries run on the swapping task's stack, alone on the machine (see run_swap).
    bool m_direct_entries = false;
    OwnPtr<link::Namespace> m_namespace;
    OwnPtr<link::CellLibrary> m_library;
    task::Mutex m_lock;               // loads, unloads, queries
    SpinLock m_directory_lock;        // the directory: also read by the resolver at every spawn
    cells::CellDirectory m_directory;
};

CellManager& cell_manager();

} // namespace delos::loader
