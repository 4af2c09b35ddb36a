// namespace.cpp: kernel symbols, loading through CellLinker, unloading and lookups.
#include "linker/namespace.h"

#include <utility>

#include "lib/core/format.h"
#include "linker/cell_linker.h"

namespace delos::link {

namespace {

bool contains_cell(const Vector<LoadedCell*>& cells, const LoadedCell* cell)
{
    for (const LoadedCell* candidate : cells) {
        if (candidate == cell)
            return true;
    }
    return false;
}

// Dependents before the cells they use (the reverse of the order they were initialised in);
// inside a cycle, any order.
} // namespace

Vector<LoadedCell*> teardown_order_of(const Vector<LoadedCell*>& cells)
{
    Vector<LoadedCell*> visited;
    Vector<LoadedCell*> dependencies_first;
    auto visit = [&](auto& self, LoadedCell* cell) -> void {
        if (contains_cell(visited, cell))
            return;
        visited.append(cell);
        for (LoadedCell* used : cell->cells_used()) {
            if (contains_cell(cells, used))
                self(self, used);
        }
        dependencies_first.append(cell);
    };
    for (LoadedCell* cell : cells)
        visit(visit, cell);
    Vector<LoadedCell*> order;
    while (!dependencies_first.empty())
        order.append(dependencies_first.take_last());
    return order;
}

Error Namespace::refuse(Error error)
{
    m_last_failure = String(error.explanation());
    return error;
}

Namespace::~Namespace()
{
    // No cell code runs here: this only happens when the whole system (or a test) goes away.
    m_cells.clear();
}

ErrorOr<void> Namespace::add_kernel_symbol(StringView name, std::uint64_t address)
{
    if (name.empty())
        return Error::make(ErrorCode::InvalidArgument, "kernel symbol has an empty name");
    if (m_symbols.contains(name)) {
        return refuse(Error::make(ErrorCode::AlreadyExists, "kernel symbol is already defined", address)
                          .with_detail(format("kernel symbol {} is already defined", name)));
    }
    m_symbols.set(String(name), SymbolDefinition{address, nullptr});
    ++m_kernel_symbol_count;
    return {};
}

ErrorOr<LoadedCell*> Namespace::load_cell(StringView name, const CellLibrary& library)
{
    const LibraryCell* entry = library.find_cell(name);
    if (!entry) {
        return refuse(Error::make(ErrorCode::NotFound, "no cell with that name in the cell library")
                          .with_detail(format("the cell library has no cell called {}", name)));
    }
    return load(entry->object, entry->name, &library);
}

ErrorOr<LoadedCell*> Namespace::load_object(ByteView object, const CellLibrary* library)
{
    return load(object, StringView(), library);
}

ErrorOr<LoadedCell*> Namespace::load(ByteView object, StringView expected_name, const CellLibrary* library)
{
    if (m_busy) {
        return refuse(Error::make(ErrorCode::Busy, "the namespace is in the middle of loading or unloading")
                          .with_detail("a cell's constructor, init, fini or destructor tried to load a cell"));
    }
    m_busy = true;
    m_last_failure.clear();
    ErrorOr<LoadedCell*> result = Error::make(ErrorCode::Internal, "load did not run");
    {
        CellLinker linker(*this, library);
        result = linker.link(object, expected_name);
    }  // an uncommitted linker releases everything here
    m_busy = false;
    if (result.is_error())
        return refuse(result.release_error());
    return result;
}

ErrorOr<void> Namespace::unload_cell(StringView name) { return unload_cells(Vector<StringView>{name}); }

ErrorOr<void> Namespace::unload_cells(const Vector<StringView>& names)
{
    if (m_busy) {
        return refuse(Error::make(ErrorCode::Busy, "the namespace is in the middle of loading or unloading")
                          .with_detail("a cell's constructor, init, fini or destructor tried to unload a cell"));
    }
    m_last_failure.clear();
    Vector<LoadedCell*> cells;
    for (StringView name : names) {
        LoadedCell* cell = find_cell(name);
        if (!cell) {
            return refuse(Error::make(ErrorCode::NotFound, "no loaded cell with that name")
                              .with_detail(format("no loaded cell is called {}", name)));
        }
        if (!contains_cell(cells, cell))
            cells.append(cell);
    }
    for (LoadedCell* cell : cells) {
        for (const OwnPtr<LoadedSection>& section : cell->sections()) {
            for (const Dependent& dependent : section->used_by) {
                if (contains_cell(cells, dependent.user->cell))
                    continue;
                const Dependency& edge = dependent.user->uses[dependent.dependency];
                return refuse(Error::make(ErrorCode::Busy, "cell is still used by another cell")
                                  .with_detail(format("cell {} is still used by cell {}: its section {} uses {} through {}",
                                                      cell->name(), dependent.user->cell->name(), dependent.user->name,
                                                      section->name,
                                                      edge.symbol.empty() ? StringView("a section reference") : edge.symbol.view())));
            }
        }
    }
    m_busy = true;
    Vector<LoadedCell*> order = teardown_order_of(cells);
    for (LoadedCell* cell : order)
        run_teardown(*cell, true);
    m_busy = false;
    forget_cells(cells);
    return {};
}

void Namespace::run_teardown(LoadedCell& cell, bool run_fini)
{
    if (run_fini && cell.m_fini)
        m_invoker.call(cell.name(), EntryKind::Fini, reinterpret_cast<void (*)()>(cell.m_fini));
    // Exit functions may register more while they run; take the list first.
    Vector<std::uint64_t> exit_functions = std::move(cell.m_exit_functions);
    while (!exit_functions.empty())
        m_invoker.call(cell.name(), EntryKind::ExitFunction, reinterpret_cast<void (*)()>(exit_functions.take_last()));
    for (std::uint64_t destructor : cell.m_destructors)
        m_invoker.call(cell.name(), EntryKind::Destructor, reinterpret_cast<void (*)()>(destructor));
}

void Namespace::forget_cells(const Vector<LoadedCell*>& cells)
{
    for (LoadedCell* cell : cells) {
        for (const String& name : cell->m_exports)
            m_symbols.remove(name.view());
        // Drop the back-edges left in cells that stay; the others go away whole.
        for (const OwnPtr<LoadedSection>& section : cell->m_sections) {
            for (const Dependency& dependency : section->uses) {
                if (dependency.provider_kind != ProviderKind::Section || contains_cell(cells, dependency.provider->cell))
                    continue;
                LoadedSection* user = section.get();
                dependency.provider->used_by.remove_all_matching([user](const Dependent& dependent) { return dependent.user == user; });
            }
        }
    }
    m_cells.remove_all_matching([&cells](const OwnPtr<LoadedCell>& loaded) { return contains_cell(cells, loaded.get()); });
}

ErrorOr<void> Namespace::register_exit_function(std::uint64_t caller, void (*function)())
{
    auto try_cell = [&](LoadedCell* cell) -> int {
        LoadedSection* caller_section = cell->section_at(caller);
        if (!caller_section || caller_section->kind != SectionKind::Text)
            return 0;
        LoadedSection* function_section = cell->section_at(reinterpret_cast<std::uint64_t>(function));
        if (!function_section || function_section->kind != SectionKind::Text)
            return -1;
        cell->m_exit_functions.append(reinterpret_cast<std::uint64_t>(function));
        return 1;
    };
    for (const OwnPtr<LoadedCell>& cell : m_cells) {
        if (int result = try_cell(cell.get()))
            return result > 0 ? ErrorOr<void>() : Error::make(ErrorCode::InvalidArgument, "exit function lies outside the registering cell's code", reinterpret_cast<std::uint64_t>(function));
    }
    for (LoadedCell* cell : m_cells_in_progress) {
        if (int result = try_cell(cell))
            return result > 0 ? ErrorOr<void>() : Error::make(ErrorCode::InvalidArgument, "exit function lies outside the registering cell's code", reinterpret_cast<std::uint64_t>(function));
    }
    return Error::make(ErrorCode::NotFound, "exit function registered from outside any loaded cell", caller);
}

LoadedCell* Namespace::find_cell(StringView name) const
{
    for (const OwnPtr<LoadedCell>& cell : m_cells) {
        if (cell->name() == name)
            return cell.get();
    }
    return nullptr;
}

LoadedCell* Namespace::cell_at(std::uint64_t address) const
{
    for (const OwnPtr<LoadedCell>& cell : m_cells) {
        if (cell->contains(address))
            return cell.get();
    }
    for (const OwnPtr<LoadedCell>& cell : m_retiring) {
        if (cell->contains(address))
            return cell.get();
    }
    return nullptr;
}

} // namespace delos::link
