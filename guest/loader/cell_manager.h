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
#include "runtime/frame_tables.h"

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
    // Unwinding through cells: registers the .eh_frame of every cell loaded since the last call
    // and unregisters those of cells that are gone (after each load and unload).
    void sync_frame_tables();

    struct CellFrameTable {
        const link::LoadedCell* cell;
        unwinding::FrameTableHandle table;
    };
    Vector<CellFrameTable> m_frame_tables;

    KernelSectionMemory m_memory;
    link::DirectEntryInvoker m_invoker;
    OwnPtr<link::Namespace> m_namespace;
    OwnPtr<link::CellLibrary> m_library;
};

CellManager& cell_manager();

} // namespace delos::loader
