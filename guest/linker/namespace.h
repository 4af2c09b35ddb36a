// namespace.h: the runtime linker's namespace: the kernel's exported symbols, every loaded
// cell, and the symbols those cells export. Loading links a cell (and the cells it needs) into
// it; unloading takes a cell out once nothing else uses it. Not internally locked: the kernel
// serialises calls (one lock around the namespace).
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/hash_map.h"
#include "linker/cell_library.h"
#include "linker/entry_invoker.h"
#include "linker/loaded_cell.h"
#include "linker/section_memory.h"
#include "linker/task_inspector.h"
#include "lib/core/own_ptr.h"
#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::link {

// What a name in the namespace resolves to.
struct SymbolDefinition {
    std::uint64_t address = 0;
    LoadedSection* section = nullptr;  // null for kernel symbols
};

// One replacement in a swap: the loaded cell called `old_cell` by the cell in `new_object` (same
// name). The namespace keeps each generation's object for rollback: it copies the bytes, unless
// `persistent` says they outlive the namespace (a member of a cell library).
struct SwapPair {
    StringView old_cell;
    ByteView new_object;
    bool persistent = false;
    // A reload (fault recovery, docs/fault-recovery.md): the cell's own pristine object again.
    // Its state is not handed over (the copy starts from fresh .data/.bss, constructors and init),
    // and the generation kept for rollback stays the one an earlier swap replaced.
    bool reload = false;
    // The object's build id when the caller already has it (a push's verified SHA-256, a kept
    // object's): saves hashing the object again. Empty: the library's or a fresh hash.
    StringView build_id = {};
};

// The stages of a swap, as Theseus's crate_swap logs them.
enum class SwapStage : std::uint8_t { Load, Link, Verify, Transfer, Repoint, Cleanup };
inline constexpr int kSwapStageCount = 6;
const char* swap_stage_name(SwapStage);

struct SwappedCell {
    String name;
    String old_version;
    String new_version;
    std::uint32_t old_generation = 0;
    std::uint32_t new_generation = 0;
    String state_layout;  // the layout its state crossed in; empty when none was handed over
};

struct SwapReport {
    Vector<SwappedCell> cells;
    Vector<String> also_loaded;           // dependencies the new versions pulled in
    std::uint64_t stage_ns[kSwapStageCount] = {};
    std::uint64_t total_ns = 0;
    std::uint32_t relocations_repointed = 0;  // dependents' recorded relocations re-pointed (each GOT use counts)
    // Permission changes the re-point made (SectionMemory::protect calls, opening and closing);
    // a re-point of GOT slots only makes none (the GOT is in the data region).
    std::uint32_t repoint_permission_changes = 0;
    std::uint32_t retired_released = 0;       // retiring cells whose memory went back during cleanup
};

// Cells in the order they are torn down: dependents before the cells they use (any order
// inside a cycle).
Vector<LoadedCell*> teardown_order_of(const Vector<LoadedCell*>& cells);

class Namespace {
public:
    Namespace(SectionMemory& memory, EntryInvoker& invoker) : m_memory(memory), m_invoker(invoker) {}
    Namespace(const Namespace&) = delete;
    Namespace& operator=(const Namespace&) = delete;
    // Releases every cell's memory without running any cell code.
    ~Namespace();

    // Adds one kernel export. Refuses an empty name or a name that is already defined.
    ErrorOr<void> add_kernel_symbol(StringView name, std::uint64_t address);

    // Loads the cell called `name` from `library`, and every cell it needs that is not loaded
    // yet (found through the symbols they export). All of them are placed before any is
    // relocated, so cells may depend on each other in a cycle. Constructors and init entries
    // run dependencies first. On any failure nothing stays loaded and the namespace is as before.
    ErrorOr<LoadedCell*> load_cell(StringView name, const CellLibrary& library);
    // Loads a cell from its object bytes (e.g. one pushed into the running system), pulling
    // dependencies from `library` when one is given. The bytes are not kept.
    ErrorOr<LoadedCell*> load_object(ByteView object, const CellLibrary* library = nullptr);

    // Runs the cell's fini entry, its exit functions (newest first) and its destructors, then
    // removes its exports and releases its memory. Refused (Busy) while another cell uses it.
    ErrorOr<void> unload_cell(StringView name);
    // Unloads several cells together, dependents first: the way to unload a dependency cycle.
    // Refused (Busy) while a cell outside the set uses one inside it.
    ErrorOr<void> unload_cells(const Vector<StringView>& names);

    // Live evolution (docs/live-evolution.md): replaces loaded cells by new versions as one
    // transaction. The new cells are loaded and linked beside the old ones; every symbol the
    // namespace's other cells use from an old cell must be exported by the new set (else refused,
    // naming symbols and users); state is handed over where both versions declare a common
    // layout (refused before anything runs if the old one has state the new one cannot adopt);
    // constructors and init run; every dependent relocation (GOT slot or direct) is re-pointed;
    // the new exports replace the old in the symbol map; the old cells become `retiring` until
    // no task refers to them. Any failure, including a failing init or state hand-over, leaves
    // the namespace as it was (the state goes back to the old version).
    ErrorOr<SwapReport> swap_cells(const Vector<SwapPair>& pairs, const CellLibrary* library = nullptr);
    // Swaps `name` back to the object of the generation it replaced (a new generation number).
    ErrorOr<SwapReport> rollback_cell(StringView name, const CellLibrary* library = nullptr);
    bool has_previous_generation(StringView name) const;
    // Fault recovery's quarantine (docs/fault-recovery.md): every relocation by which another
    // live cell reaches the cell's code (calls, GOT slots, code addresses) is rewritten to point
    // at `refusal` (a kernel routine that ends the caller's task cleanly). The dependency records
    // stay as they were, so a later swap or reload re-points those users to the new code and
    // lifts the quarantine. Checked before anything is written: a refusal changes nothing.
    // Returns how many relocations were rewritten.
    ErrorOr<std::uint32_t> quarantine_cell(StringView name, std::uint64_t refusal);
    // Releases retiring cells that no task refers to any more (and that no other retiring cell
    // uses, and whose `outstanding` entry says 0). Runs their exit functions and destructors (not
    // fini: the cell was replaced, not stopped). Returns how many were released.
    std::size_t collect_retired();
    // collect_retired() in two steps, for a kernel that scans with every task stopped but must
    // not block there (the destructors may): which retiring cells are releasable now (the scan;
    // runs no cell code but their `outstanding` entries), then releasing those. Nothing may change
    // the namespace in between (the caller holds its lock); a task that referred to none of them
    // cannot reach them again, since no live cell links to a retiring one.
    Vector<LoadedCell*> releasable_retired();
    std::size_t release_retired(const Vector<LoadedCell*>& releasable);
    // Replaced cells still in memory, oldest first.
    const Vector<OwnPtr<LoadedCell>>& retiring_cells() const { return m_retiring; }

    // How swaps stop other tasks and see calls in flight; SingleTaskInspector until set.
    void set_task_inspector(TaskInspector& inspector) { m_inspector = &inspector; }
    // A monotonic nanosecond clock for the swap report's stage timing (none: all zero).
    void set_clock(std::uint64_t (*clock)()) { m_clock = clock; }

    // Called by the kernel's atexit(): registers `function` to run when the cell whose code
    // contains `caller` (atexit's return address) is unloaded. `function` must be in that cell.
    ErrorOr<void> register_exit_function(std::uint64_t caller, void (*function)());

    const SymbolDefinition* find_symbol(StringView name) const { return m_symbols.find(name); }
    std::size_t symbol_count() const { return m_symbols.size(); }
    std::size_t kernel_symbol_count() const { return m_kernel_symbol_count; }
    LoadedCell* find_cell(StringView name) const;
    // The loaded or retiring cell whose memory contains `address` (e.g. a faulting instruction), if any.
    LoadedCell* cell_at(std::uint64_t address) const;
    // In load order.
    const Vector<OwnPtr<LoadedCell>>& cells() const { return m_cells; }
    // Cells of the load in progress: relocated, their constructors and init running or about to
    // (empty between loads).
    const Vector<LoadedCell*>& cells_in_progress() const { return m_cells_in_progress; }

    // Deprecated: every refusal's Error carries its own detail (Error::explanation()). Kept, as
    // the detail of the last refusal, for code written before errors carried detail.
    StringView last_failure() const { return m_last_failure.view(); }

private:
    friend class CellLinker;
    friend class CellSwap;

    // The object of the generation a swap replaced, per cell name (one generation back).
    struct PreviousGeneration {
        String name;
        CellObject object;
    };

    ErrorOr<LoadedCell*> load(ByteView object, StringView expected_name, const CellLibrary* library);
    void run_teardown(LoadedCell& cell, bool run_fini);
    void forget_cells(const Vector<LoadedCell*>& cells);
    // Records the refusal for last_failure() and hands it back.
    Error refuse(Error error);
    void forget_retired(LoadedCell* cell, const Vector<LoadedCell*>& going);
    std::size_t collect_retired_locked();
    Vector<LoadedCell*> releasable_retired_locked();
    std::size_t release_retired_locked(const Vector<LoadedCell*>& releasable);
    ErrorOr<SwapReport> swap(const Vector<SwapPair>& pairs, const CellLibrary* library);

    SectionMemory& m_memory;
    EntryInvoker& m_invoker;
    HashMap<String, SymbolDefinition> m_symbols;
    std::size_t m_kernel_symbol_count = 0;
    Vector<OwnPtr<LoadedCell>> m_cells;
    // Cells being loaded, visible to register_exit_function() while their constructors run.
    Vector<LoadedCell*> m_cells_in_progress;
    bool m_busy = false;
    String m_last_failure;
    Vector<OwnPtr<LoadedCell>> m_retiring;
    Vector<PreviousGeneration> m_previous;
    SingleTaskInspector m_single_task;
    TaskInspector* m_inspector = &m_single_task;
    std::uint64_t (*m_clock)() = nullptr;
};

} // namespace delos::link
