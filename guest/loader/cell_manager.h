// cell_manager.h: the kernel's side of the cell linker: one namespace holding the kernel's
// exports and every loaded cell, the boot archive (PVH module 0) as the library cells and their
// dependencies are loaded from, and the hooks (atexit, backtrace symbols) that connect cells to
// the kernel. Calls are serialised by one lock.
#pragma once

#include <cstdint>

#include "lib/byte_view.h"
#include "lib/error_or.h"
#include "lib/format.h"
#include "lib/link/cell_library.h"
#include "lib/link/namespace.h"
#include "lib/own_ptr.h"
#include "loader/kernel_section_memory.h"
#include "loader/kernel_task_inspector.h"

namespace delos::loader {

class CellManager {
public:
    // Takes the boot archive (may be empty: then only pushed objects can be loaded) and installs
    // the atexit and symbolizer hooks.
    ErrorOr<void> initialize(ByteView boot_archive);

    // Loads every cell of the boot archive that is not loaded yet; returns how many were loaded
    // (a cell's dependencies are loaded with it).
    ErrorOr<std::size_t> load_boot_set();
    ErrorOr<link::LoadedCell*> load(StringView name);
    // Links an object that is not in the archive (e.g. pushed over the control channel); its
    // dependencies come from the archive. The bytes are not kept.
    ErrorOr<link::LoadedCell*> load_object(ByteView object);
    ErrorOr<void> unload(StringView name);

    // Live evolution (docs/live-evolution.md): replaces loaded cells by new versions (object
    // bytes, copied) as one transaction. While a task is inside a cell whose state is handed
    // over, the swap is refused with nothing changed and retried (the lock released, sleeping
    // 1 ms between tries) for up to `kSwapAttempts` tries. Old versions retire until no task's
    // stack refers to them; each swap also releases retiring cells that are free by now.
    static constexpr int kSwapAttempts = 200;
    ErrorOr<link::SwapReport> swap(const Vector<link::SwapPair>& pairs);
    // Swaps `name` back to the generation it replaced (its object is kept).
    ErrorOr<link::SwapReport> rollback(StringView name);
    // Releases retiring cells no task refers to any more; returns how many.
    std::size_t collect_retired();

    const link::Namespace& cell_namespace() const { return *m_namespace; }
    const link::CellLibrary* library() const { return m_library ? m_library.get() : nullptr; }
    // Why the last refused operation was refused (names a symbol, section or cell).
    StringView last_failure() const { return m_namespace->last_failure(); }
    std::uint64_t section_bytes_in_use() const { return m_memory.bytes_in_use(); }

    // Name, version, sections (address ranges, sizes, rights) and dependencies of every cell.
    void describe(FormatSink& sink) const;

private:
    // Adds to the namespace the kernel symbols that `object` imports, straight from the kernel's
    // embedded table, so the namespace never copies thousands of names it does not need.
    ErrorOr<void> export_kernel_symbols_for(ByteView object);
    ErrorOr<void> export_kernel_symbols_for_library();

    KernelSectionMemory m_memory;
    link::DirectEntryInvoker m_invoker;
    KernelTaskInspector m_inspector;
    OwnPtr<link::Namespace> m_namespace;
    OwnPtr<link::CellLibrary> m_library;
};

CellManager& cell_manager();

} // namespace delos::loader
