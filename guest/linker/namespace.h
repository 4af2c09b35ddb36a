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

    // Called by the kernel's atexit(): registers `function` to run when the cell whose code
    // contains `caller` (atexit's return address) is unloaded. `function` must be in that cell.
    ErrorOr<void> register_exit_function(std::uint64_t caller, void (*function)());

    const SymbolDefinition* find_symbol(StringView name) const { return m_symbols.find(name); }
    std::size_t symbol_count() const { return m_symbols.size(); }
    std::size_t kernel_symbol_count() const { return m_kernel_symbol_count; }
    LoadedCell* find_cell(StringView name) const;
    // The loaded cell whose memory contains `address` (e.g. a faulting instruction), if any.
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

    ErrorOr<LoadedCell*> load(ByteView object, StringView expected_name, const CellLibrary* library);
    void run_teardown(LoadedCell& cell, bool run_fini);
    void forget_cells(const Vector<LoadedCell*>& cells);
    // Records the refusal for last_failure() and hands it back.
    Error refuse(Error error);

    SectionMemory& m_memory;
    EntryInvoker& m_invoker;
    HashMap<String, SymbolDefinition> m_symbols;
    std::size_t m_kernel_symbol_count = 0;
    Vector<OwnPtr<LoadedCell>> m_cells;
    // Cells being loaded, visible to register_exit_function() while their constructors run.
    Vector<LoadedCell*> m_cells_in_progress;
    bool m_busy = false;
    String m_last_failure;
};

} // namespace delos::link
