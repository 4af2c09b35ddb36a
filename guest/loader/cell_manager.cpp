// cell_manager.cpp: kernel exports on demand, boot-set loading, and the atexit/backtrace hooks.
#include "loader/cell_manager.h"

#include "debug/kernel_log.h"
#include "debug/kernel_symbols.h"
#include "lib/link/describe.h"
#include "lib/link/relocatable_object.h"
#include "runtime/cxx_runtime.h"
#include "sync/spin_lock.h"

namespace delos::loader {

namespace {

CellManager g_cell_manager;
SpinLock g_lock;

int register_cell_exit_function(void (*function)(), std::uint64_t caller)
{
    // Called from a cell's constructor while the linker runs it, under the manager's lock.
    auto registered = const_cast<link::Namespace&>(g_cell_manager.cell_namespace()).register_exit_function(caller, function);
    return registered.is_error() ? -1 : 0;
}

// Backtraces through cells: the section containing the address; with one section per function
// its name is the function's (".text.<mangled name>").
bool symbolize_cell_address(std::uint64_t address, kernel_symbols::Symbol& out, kernel_symbols::CodeOwner& owner)
{
    link::LoadedCell* cell = g_cell_manager.cell_namespace().cell_at(address);
    if (!cell)
        return false;
    link::LoadedSection* section = cell->section_at(address);
    if (!section)
        return false;
    StringView name = section->name.view();
    if (name.starts_with(".text."))
        name = name.substr(6);
    out = {section->address, section->size, name, name, true};
    owner = {cell->name(), cell->version()};
    return true;
}

} // namespace

CellManager& cell_manager() { return g_cell_manager; }

ErrorOr<void> CellManager::initialize(ByteView boot_archive)
{
    m_namespace = make_own<link::Namespace>(m_memory, m_invoker);
    runtime::set_atexit_handler(register_cell_exit_function);
    kernel_symbols::set_external_symbolizer(symbolize_cell_address);
    if (boot_archive.empty())
        return {};
    auto library = link::CellLibrary::from_archive(boot_archive);
    if (library.is_error())
        return library.release_error();
    m_library = make_own<link::CellLibrary>(library.release_value());
    return export_kernel_symbols_for_library();
}

ErrorOr<void> CellManager::export_kernel_symbols_for(ByteView bytes)
{
    auto object = TRY(link::RelocatableObject::parse(bytes));
    for (const link::ObjectSymbol& symbol : object.symbols()) {
        if (symbol.is_defined() || !symbol.is_global_or_weak() || symbol.name.empty())
            continue;
        if (m_namespace->find_symbol(symbol.name))
            continue;
        kernel_symbols::Symbol kernel_symbol;
        if (kernel_symbols::find(symbol.name, kernel_symbol))
            TRY(m_namespace->add_kernel_symbol(symbol.name, kernel_symbol.address));
    }
    return {};
}

ErrorOr<void> CellManager::export_kernel_symbols_for_library()
{
    for (const link::LibraryCell& cell : m_library->cells())
        TRY(export_kernel_symbols_for(cell.object));
    return {};
}

void CellManager::sync_frame_tables()
{
    // Gone cells first: a new cell may sit where a gone one was.
    m_frame_tables.remove_all_matching([&](const CellFrameTable& entry) {
        for (const OwnPtr<link::LoadedCell>& cell : m_namespace->cells())
            if (cell.get() == entry.cell)
                return false;
        unwinding::unregister_frame_table(entry.table);
        return true;
    });
    for (const OwnPtr<link::LoadedCell>& cell : m_namespace->cells()) {
        bool known = false;
        for (const CellFrameTable& entry : m_frame_tables)
            known |= entry.cell == cell.get();
        if (known)
            continue;
        unwinding::FrameTableHandle table = nullptr;
        if (link::LoadedSection* eh_frame = cell->find_section(".eh_frame")) {
            link::Region text = cell->region(link::SectionKind::Text);
            link::Region read_only = cell->region(link::SectionKind::ReadOnly);
            auto registered = unwinding::register_frame_table(
                cell->name(), ByteView(reinterpret_cast<const void*>(eh_frame->address), eh_frame->size), eh_frame->address,
                {text.address, text.address + text.size, read_only.address, read_only.address + read_only.size});
            // A cell whose tables do not parse still runs; a fault in it is then not contained.
            if (registered.is_error())
                kprint("delos: cell {}: .eh_frame refused ({}): its faults cannot be contained\n", cell->name(),
                       registered.error().message);
            else
                table = registered.value();
        }
        m_frame_tables.append({cell.get(), table});
    }
}

ErrorOr<std::size_t> CellManager::load_boot_set()
{
    SpinLockGuard guard(g_lock);
    if (!m_library)
        return std::size_t(0);
    std::size_t before = m_namespace->cells().size();
    for (const link::LibraryCell& cell : m_library->cells()) {
        if (!m_namespace->find_cell(cell.name)) {
            auto loaded = m_namespace->load_cell(cell.name, *m_library);
            sync_frame_tables();
            TRY(loaded);
        }
    }
    return m_namespace->cells().size() - before;
}

ErrorOr<link::LoadedCell*> CellManager::load(StringView name)
{
    SpinLockGuard guard(g_lock);
    if (!m_library)
        return Error::make(ErrorCode::NotFound, "no boot archive to load cells from");
    auto loaded = m_namespace->load_cell(name, *m_library);
    sync_frame_tables();
    return loaded;
}

ErrorOr<link::LoadedCell*> CellManager::load_object(ByteView object)
{
    SpinLockGuard guard(g_lock);
    TRY(export_kernel_symbols_for(object));
    auto loaded = m_namespace->load_object(object, library());
    sync_frame_tables();
    return loaded;
}

ErrorOr<void> CellManager::unload(StringView name)
{
    SpinLockGuard guard(g_lock);
    auto unloaded = m_namespace->unload_cell(name);
    sync_frame_tables();
    return unloaded;
}

void CellManager::describe(FormatSink& sink) const
{
    link::describe_cells(*m_namespace, sink);
    for (const OwnPtr<link::LoadedCell>& cell : m_namespace->cells())
        link::describe_cell(*cell, sink);
}

} // namespace delos::loader
