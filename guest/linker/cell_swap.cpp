// cell_swap.cpp: the swap transaction (load, link, verify, transfer, re-point, cleanup) and the
// namespace's swap, rollback and retiring-cell entry points.
#include "linker/cell_swap.h"

#include <utility>

#include "lib/core/format.h"
#include "linker/cell_identity.h"
#include "linker/cell_info.h"
#include "linker/cell_linker.h"
#include "linker/cell_linker_pending.h"
#include "linker/relocation.h"

namespace delos::link {

namespace {

// Lists in failure details stop after this many names ("... and N more").
constexpr std::size_t kMaxNamedProblems = 8;

void store_64(std::uint64_t address, std::uint64_t value)
{
    __builtin_memcpy(reinterpret_cast<void*>(address), &value, sizeof value);
}


// The region a relocation writes into: the GOT slot's (the user cell's data region) or the place's.
SectionKind written_region(const LoadedSection& user, const Dependency& dependency)
{
    return relocation_uses_got(dependency.relocation.type) ? kGotRegion : user.kind;
}

} // namespace

const char* swap_stage_name(SwapStage stage)
{
    switch (stage) {
    case SwapStage::Load: return "load";
    case SwapStage::Link: return "link";
    case SwapStage::Verify: return "verify";
    case SwapStage::Transfer: return "transfer";
    case SwapStage::Repoint: return "re-point";
    case SwapStage::Cleanup: return "cleanup";
    }
    return "unknown";
}

ErrorOr<void*> CellSwap::call_export(const LoadedCell& cell, StringView layout)
{
    return m_namespace.m_invoker.call_export_state(cell.name(), reinterpret_cast<CellStateExportFunction>(cell.state_entries().export_state),
                                                   layout);
}

ErrorOr<void> CellSwap::call_adopt(const LoadedCell& cell, StringView layout, void* state)
{
    return m_namespace.m_invoker.call_adopt_state(cell.name(), reinterpret_cast<CellStateAdoptFunction>(cell.state_entries().adopt_state),
                                                  layout, state);
}

Error CellSwap::fail(Error error, String detail)
{
    Error detailed = std::move(error).with_detail(detail.view());
    m_failure = std::move(detail);
    return detailed;
}

std::uint64_t CellSwap::now() const { return m_namespace.m_clock ? m_namespace.m_clock() : 0; }

bool CellSwap::is_old(const LoadedCell* cell) const
{
    for (const LoadedCell* old : m_old) {
        if (old == cell)
            return true;
    }
    return false;
}

bool CellSwap::is_retiring(const LoadedCell* cell) const
{
    for (const OwnPtr<LoadedCell>& retiring : m_namespace.m_retiring) {
        if (retiring.get() == cell)
            return true;
    }
    return false;
}

LoadedCell& CellSwap::new_cell(CellLinker& linker, std::size_t pair) const { return *linker.m_pending[pair]->cell; }

ErrorOr<void> CellSwap::find_old_cells(const Vector<SwapPair>& pairs)
{
    if (pairs.empty())
        return fail(Error::make(ErrorCode::InvalidArgument, "a swap must name at least one cell"), String("the swap names no cells"));
    if (pairs.size() > kMaxCellsPerLoad)
        return fail(Error::make(ErrorCode::Unsupported, "one swap would replace more cells than allowed", kMaxCellsPerLoad),
                    format("a swap may replace at most {} cells", kMaxCellsPerLoad));
    for (const SwapPair& pair : pairs) {
        LoadedCell* old = m_namespace.find_cell(pair.old_cell);
        if (!old)
            return fail(Error::make(ErrorCode::NotFound, "no loaded cell with that name"),
                        format("no loaded cell is called {}", pair.old_cell));
        if (is_old(old))
            return fail(Error::make(ErrorCode::InvalidArgument, "a swap names the same cell twice"),
                        format("the swap names cell {} twice", pair.old_cell));
        m_old.append(old);
        m_reload.append(pair.reload);
    }
    return {};
}

ErrorOr<SwapReport> CellSwap::run(const Vector<SwapPair>& pairs)
{
    SwapReport report;
    std::uint64_t started = now();
    std::uint64_t stage_started = started;
    auto finish_stage = [&](SwapStage stage) {
        std::uint64_t at = now();
        report.stage_ns[static_cast<int>(stage)] = at - stage_started;
        stage_started = at;
    };

    TRY(find_old_cells(pairs));
    CellLinker linker(m_namespace, m_library, m_old);
    // Load: parse the new objects (each must declare the old cell's name), gather what they
    // need, place everything.
    for (const SwapPair& pair : pairs)
        TRY(linker.add(pair.new_object, pair.old_cell, !pair.persistent, pair.build_id));
    TRY(linker.gather_dependencies());
    for (OwnPtr<CellLinker::PendingCell>& pending : linker.m_pending)
        TRY(linker.place(*pending));
    finish_stage(SwapStage::Load);

    for (OwnPtr<CellLinker::PendingCell>& pending : linker.m_pending)
        TRY(linker.relocate(*pending));
    for (OwnPtr<CellLinker::PendingCell>& pending : linker.m_pending) {
        TRY(linker.read_entries(*pending));
        TRY(linker.protect(*pending));
    }
    finish_stage(SwapStage::Link);

    TRY(verify(linker));
    finish_stage(SwapStage::Verify);

    // From here other tasks must not run: state moves and code is rewritten under them. When
    // state is handed over, no task may be inside a cell that can still reach the old state
    // without going through a re-pointed relocation: the old cells of this swap, and retiring
    // cells that (transitively) link to them.
    Vector<Region> handing_over;
    bool any_state = false;
    for (StringView layout : m_layouts)
        any_state |= !layout.empty();
    if (any_state) {
        Vector<LoadedCell*> reaching = m_old;
        for (std::size_t i = 0; i < reaching.size(); ++i) {
            for (const OwnPtr<LoadedSection>& section : reaching[i]->m_sections) {
                for (const Dependent& dependent : section->used_by) {
                    LoadedCell* user = dependent.user->cell;
                    bool known = false;
                    for (LoadedCell* cell : reaching)
                        known |= cell == user;
                    if (!known && is_retiring(user))
                        reaching.append(user);
                }
            }
        }
        for (LoadedCell* cell : reaching) {
            for (const Region& region : cell->regions())
                handing_over.append(region);
        }
    }
    if (auto stopped = m_namespace.m_inspector->stop_others(handing_over); stopped.is_error()) {
        String names;
        for (std::size_t i = 0; i < m_old.size(); ++i)
            names.append(format("{}{}", names.empty() ? "" : ",", m_old[i]->name()).view());
        return fail(stopped.error(), format("a task is still inside {} or a retiring cell linked to it, and state is handed over: {}; nothing changed",
                                            names, stopped.error().message));
    }
    auto transferred = transfer_and_initialise(linker);
    if (transferred.is_error()) {
        m_namespace.m_inspector->resume_others();
        return transferred.release_error();
    }
    finish_stage(SwapStage::Transfer);

    auto repointed = repoint(linker);
    if (repointed.is_error()) {
        m_namespace.m_inspector->resume_others();
        return repointed.release_error();
    }
    commit(linker, report);
    m_namespace.m_inspector->resume_others();
    finish_stage(SwapStage::Repoint);

    report.retired_released = static_cast<std::uint32_t>(m_namespace.collect_retired_locked());
    finish_stage(SwapStage::Cleanup);
    report.total_ns = now() - started;
    m_failure.clear();
    return report;
}

ErrorOr<void> CellSwap::verify(CellLinker& linker)
{
    m_layouts.resize(m_old.size());
    m_transferred.resize(m_old.size());
    // State: an old cell that hands state over needs a successor that adopts one of its layouts.
    for (std::size_t i = 0; i < m_old.size(); ++i) {
        const LoadedCell& old = *m_old[i];
        const LoadedCell& replacement = new_cell(linker, i);
        if (!old.state_entries().export_state || m_reload[i])
            continue;  // nothing to hand over (or a reload: the fresh copy starts afresh)
        if (!replacement.state_entries().adopt_state)
            return fail(Error::make(ErrorCode::Unsupported, "the new version cannot adopt the old version's state"),
                        format("cell {}: version {} hands over its state (layouts {}) but version {} declares no adopt entry; nothing changed",
                               old.name(), old.version(), old.state_entries().layouts, replacement.version()));
        StringView layout = common_state_layout(replacement.state_entries().layouts.view(), old.state_entries().layouts.view());
        if (layout.empty())
            return fail(Error::make(ErrorCode::Unsupported, "incompatible state layout"),
                        format("cell {}: version {} hands over its state as {} but version {} adopts only {}; nothing changed",
                               old.name(), old.version(), old.state_entries().layouts, replacement.version(),
                               replacement.state_entries().layouts));
        m_layouts[i] = layout;
    }

    // Dependents: every relocation another live cell has into an old cell must find its target
    // in the new set: the same symbol, or (section-relative) the same-named section.
    String missing;
    std::size_t missing_count = 0;
    for (LoadedCell* old : m_old) {
        for (const OwnPtr<LoadedSection>& section : old->m_sections) {
            for (const Dependent& dependent : section->used_by) {
                LoadedCell* user_cell = dependent.user->cell;
                if (is_old(user_cell) || is_retiring(user_cell))
                    continue;  // goes (or went) away with the old cells
                const Dependency& dependency = dependent.user->uses[dependent.dependency];
                Repoint repoint;
                repoint.user = dependent.user;
                repoint.dependency = dependent.dependency;
                if (!dependency.symbol.empty()) {
                    if (const CellLinker::TentativeExport* tentative = linker.m_exports.find(dependency.symbol.view())) {
                        CellLinker::PendingCell& owner = *linker.m_pending[tentative->pending];
                        const ObjectSymbol& definition = owner.object.symbols()[tentative->symbol];
                        repoint.provider = owner.placed[definition.section];
                        repoint.address = repoint.provider->address + definition.value;
                    }
                } else {
                    std::size_t pair = 0;
                    while (m_old[pair] != old)
                        ++pair;
                    std::uint64_t offset = dependency.symbol_address - section->address;
                    LoadedSection* same = new_cell(linker, pair).find_section(section->name.view());
                    if (same && offset <= same->size) {
                        repoint.provider = same;
                        repoint.address = same->address + offset;
                    }
                }
                if (!repoint.provider) {
                    if (++missing_count <= kMaxNamedProblems)
                        missing.append(format("{}{} (used by cell {}, section {})", missing.empty() ? "" : "; ",
                                              dependency.symbol.empty() ? section->name.view() : dependency.symbol.view(),
                                              user_cell->name(), dependent.user->name)
                                           .view());
                    continue;
                }
                // Check the rewritten value fits before anything is written.
                std::uint8_t scratch[8];
                RelocationSite site;
                site.type = dependency.relocation.type;
                site.place = scratch;
                site.place_address = dependent.user->address + dependency.relocation.offset;
                site.symbol_address = repoint.address;
                site.addend = dependency.relocation.addend;
                site.got_slot_address = dependency.relocation.got_slot;
                if (auto fits = apply_relocation(site); fits.is_error())
                    return fail(fits.error(), format("re-pointing cell {}, section {} + {:#x} ({}) to {:#x}: {} (value {:#x}); nothing changed",
                                                     user_cell->name(), dependent.user->name, dependency.relocation.offset,
                                                     relocation_type_name(dependency.relocation.type), repoint.address,
                                                     fits.error().message, fits.error().value));
                m_repoints.append(repoint);
            }
        }
    }
    if (missing_count > 0) {
        if (missing_count > kMaxNamedProblems)
            missing.append(format("; and {} more", missing_count - kMaxNamedProblems).view());
        return fail(Error::make(ErrorCode::NotFound, "the new versions do not export what other cells use from the old ones", missing_count),
                    format("missing from the new versions: {}; nothing changed", missing));
    }
    return {};
}

void CellSwap::hand_states_back(std::size_t count, String& detail)
{
    // The new cells adopted these states; the old cells take them back in the same layout.
    for (std::size_t i = 0; i < count; ++i) {
        if (!m_transferred[i])
            continue;
        m_transferred[i] = false;
        LoadedCell& old = *m_old[i];
        // new_cell() needs the linker; the swap keeps the new cells reachable through m_new_cells.
        LoadedCell& replacement = *m_new_cells[i];
        auto state = call_export(replacement, m_layouts[i]);
        if (state.is_error()) {
            detail.append(format("; the state of cell {} could not be handed back ({}): it is lost", old.name(), state.error().message).view());
            continue;
        }
        if (auto adopted = call_adopt(old, m_layouts[i], state.value()); adopted.is_error())
            detail.append(format("; cell {} could not take its state back ({}): it is lost", old.name(), adopted.error().message).view());
    }
}

void CellSwap::tear_down_new(CellLinker& linker)
{
    // Dependents before what they use: the reverse of the initialisation order.
    Vector<std::size_t> order = linker.initialisation_order();
    while (!order.empty()) {
        CellLinker::PendingCell& pending = *linker.m_pending[order.take_last()];
        if (pending.initialised)
            m_namespace.run_teardown(*pending.cell, true);
        else if (pending.constructed)
            m_namespace.run_teardown(*pending.cell, false);
    }
    m_namespace.m_cells_in_progress.clear();
}

ErrorOr<void> CellSwap::transfer_and_initialise(CellLinker& linker)
{
    for (std::size_t i = 0; i < m_old.size(); ++i)
        m_new_cells.append(&new_cell(linker, i));
    Vector<std::size_t> order = linker.initialisation_order();
    for (const OwnPtr<CellLinker::PendingCell>& pending : linker.m_pending)
        m_namespace.m_cells_in_progress.append(pending->cell.get());
    for (std::size_t index : order) {
        CellLinker::PendingCell& pending = *linker.m_pending[index];
        for (std::uint64_t constructor : pending.cell->m_constructors)
            m_namespace.m_invoker.call(pending.cell->name(), EntryKind::Constructor, reinterpret_cast<void (*)()>(constructor));
        pending.constructed = true;
    }

    for (std::size_t i = 0; i < m_old.size(); ++i) {
        if (m_layouts[i].empty())
            continue;
        LoadedCell& old = *m_old[i];
        LoadedCell& replacement = *m_new_cells[i];
        auto state = call_export(old, m_layouts[i]);
        if (state.is_error()) {
            Error reason = state.error();
            String detail = format("cell {}: version {} could not hand over its state as {}: {} ({}); rolled back, version {} stays",
                                   old.name(), old.version(), m_layouts[i], reason.message, reason.value, old.version());
            hand_states_back(i, detail);
            tear_down_new(linker);
            return fail(Error::make(reason.code, "state transfer failed: the old version could not hand its state over", reason.value),
                        std::move(detail));
        }
        if (auto adopted = call_adopt(replacement, m_layouts[i], state.value()); adopted.is_error()) {
            Error reason = adopted.error();
            String detail = format("cell {}: version {} could not adopt the state of version {} as {}: {} ({}); rolled back, version {} stays",
                                   old.name(), replacement.version(), old.version(), m_layouts[i], reason.message, reason.value,
                                   old.version());
            if (auto back = call_adopt(old, m_layouts[i], state.value()); back.is_error())
                detail.append(format("; cell {} could not take its state back ({}): it is lost", old.name(), back.error().message).view());
            hand_states_back(i, detail);
            tear_down_new(linker);
            return fail(Error::make(reason.code, "state transfer failed: the new version could not adopt the state", reason.value),
                        std::move(detail));
        }
        m_transferred[i] = true;
    }

    for (std::size_t index : order) {
        CellLinker::PendingCell& pending = *linker.m_pending[index];
        LoadedCell& cell = *pending.cell;
        if (cell.m_init) {
            auto result = m_namespace.m_invoker.call_init(cell.name(), reinterpret_cast<CellInitFunction>(cell.m_init));
            if (result.is_error()) {
                // Copy the reason now: its message may live in memory about to be released.
                Error reason = result.error();
                String detail = format("cell {}: init of version {} failed: {} ({}: {}); rolled back", cell.name(), cell.version(),
                                       reason.message, error_code_name(reason.code), reason.value);
                hand_states_back(m_old.size(), detail);
                tear_down_new(linker);
                return fail(Error::make(reason.code, "the new version's init failed; the swap was rolled back", reason.value),
                            std::move(detail));
            }
        }
        pending.initialised = true;
    }
    m_namespace.m_cells_in_progress.clear();
    return {};
}

ErrorOr<void> CellSwap::repoint(CellLinker& linker)
{
    // Make every region that is written writable first; if one cannot be, undo and refuse.
    struct Opened {
        LoadedCell* cell;
        SectionKind kind;
    };
    Vector<Opened> opened;
    auto restore = [&] {
        bool all_restored = true;
        for (const Opened& region : opened) {
            ++m_repoint_permission_changes;
            all_restored &= !m_namespace.m_memory.protect(region.cell->region(region.kind), section_kind_permissions(region.kind)).is_error();
        }
        return all_restored;
    };
    for (const Repoint& repoint : m_repoints) {
        const Dependency& dependency = repoint.user->uses[repoint.dependency];
        SectionKind kind = written_region(*repoint.user, dependency);
        if (kind == SectionKind::Data)
            continue;
        bool already = false;
        for (const Opened& region : opened)
            already |= region.cell == repoint.user->cell && region.kind == kind;
        if (already)
            continue;
        ++m_repoint_permission_changes;
        if (auto writable = m_namespace.m_memory.protect(repoint.user->cell->region(kind), Permissions::ReadWrite); writable.is_error()) {
            restore();
            String detail = format("making cell {}'s {} region writable to re-point it: {}; rolled back", repoint.user->cell->name(),
                                   section_kind_name(kind), writable.error().message);
            hand_states_back(m_old.size(), detail);
            tear_down_new(linker);
            return fail(writable.error(), std::move(detail));
        }
        opened.append(Opened{repoint.user->cell, kind});
    }

    // Every value was checked in verify(): from here nothing can fail.
    for (const Repoint& repoint : m_repoints) {
        Dependency& dependency = repoint.user->uses[repoint.dependency];
        if (relocation_uses_got(dependency.relocation.type)) {
            store_64(dependency.relocation.got_slot, repoint.address);  // the instruction already reads the slot
        } else {
            RelocationSite site;
            site.type = dependency.relocation.type;
            site.place_address = repoint.user->address + dependency.relocation.offset;
            site.place = reinterpret_cast<std::uint8_t*>(site.place_address);
            site.symbol_address = repoint.address;
            site.addend = dependency.relocation.addend;
            (void)apply_relocation(site);
        }
        LoadedSection* user = repoint.user;
        std::uint32_t index = repoint.dependency;
        dependency.provider->used_by.remove_all_matching(
            [user, index](const Dependent& dependent) { return dependent.user == user && dependent.dependency == index; });
        dependency.provider = repoint.provider;
        dependency.symbol_address = repoint.address;
        repoint.provider->used_by.append(Dependent{user, index});
    }
    if (!restore())
        m_failure = String("a re-pointed region could not be made read-only again");  // committed anyway; reported
    return {};
}

void CellSwap::commit(CellLinker& linker, SwapReport& report)
{
    Vector<std::size_t> order = linker.initialisation_order();
    // The new cells' own edges get their back-edges, as in a load.
    for (std::size_t index : order) {
        CellLinker::PendingCell& pending = *linker.m_pending[index];
        for (const OwnPtr<LoadedSection>& section : pending.cell->m_sections) {
            for (std::uint32_t i = 0; i < section->uses.size(); ++i) {
                const Dependency& dependency = section->uses[i];
                if (dependency.provider_kind == ProviderKind::Section)
                    dependency.provider->used_by.append(Dependent{section.get(), i});
            }
        }
    }
    // The symbol map: old exports out, new ones in.
    for (LoadedCell* old : m_old) {
        for (const String& name : old->m_exports)
            m_namespace.m_symbols.remove(name.view());
    }
    for (std::size_t index : order) {
        CellLinker::PendingCell& pending = *linker.m_pending[index];
        for (const String& name : pending.cell->m_exports) {
            const CellLinker::TentativeExport* tentative = linker.m_exports.find(name.view());
            const ObjectSymbol& symbol = pending.object.symbols()[tentative->symbol];
            LoadedSection* section = pending.placed[symbol.section];
            m_namespace.m_symbols.set(String(name), SymbolDefinition{section->address + symbol.value, section});
        }
    }
    report.relocations_repointed = static_cast<std::uint32_t>(m_repoints.size());
    report.repoint_permission_changes = m_repoint_permission_changes;

    // Each new version takes its predecessor's place (and generation + 1); the predecessor's
    // object is kept for rollback and the cell itself retires.
    for (std::size_t i = 0; i < m_old.size(); ++i) {
        LoadedCell* old = m_old[i];
        OwnPtr<LoadedCell>& replacement = linker.m_pending[i]->cell;
        replacement->m_generation = old->m_generation + 1;
        SwappedCell swapped;
        swapped.name = String(old->name());
        swapped.old_version = String(old->version());
        swapped.new_version = String(replacement->version());
        swapped.old_generation = old->m_generation;
        swapped.new_generation = replacement->m_generation;
        swapped.state_layout = String(m_layouts[i]);
        report.cells.append(std::move(swapped));

        bool recorded = m_reload[i];  // a reload keeps the generation an earlier swap replaced
        for (Namespace::PreviousGeneration& previous : m_namespace.m_previous) {
            if (recorded)
                break;
            if (previous.name == old->name()) {
                previous.object = std::move(old->m_object);
                recorded = true;
            }
        }
        if (!recorded)
            m_namespace.m_previous.append(Namespace::PreviousGeneration{String(old->name()), std::move(old->m_object)});

        for (OwnPtr<LoadedCell>& slot : m_namespace.m_cells) {
            if (slot.get() == old) {
                m_namespace.m_retiring.append(std::move(slot));
                slot = std::move(replacement);
                break;
            }
        }
    }
    for (std::size_t index : order) {
        if (index < m_old.size())
            continue;
        report.also_loaded.append(String(linker.m_pending[index]->cell->name()));
        m_namespace.m_cells.append(std::move(linker.m_pending[index]->cell));
    }
    linker.m_pending.clear();
}

// ---------------------------------------------------------------------------------------------
// The namespace's side.

ErrorOr<SwapReport> Namespace::swap_cells(const Vector<SwapPair>& pairs, const CellLibrary* library)
{
    return swap(pairs, library);
}

ErrorOr<SwapReport> Namespace::swap(const Vector<SwapPair>& pairs, const CellLibrary* library)
{
    if (m_busy) {
        m_last_failure = "a cell's constructor, init, fini or destructor tried to swap a cell";
        return Error::make(ErrorCode::Busy, "the namespace is in the middle of loading or unloading").with_detail(m_last_failure.view());
    }
    m_busy = true;
    m_last_failure.clear();
    ErrorOr<SwapReport> result = Error::make(ErrorCode::Internal, "swap did not run");
    {
        CellSwap swap(*this, library, m_last_failure);
        result = swap.run(pairs);
    }  // an uncommitted swap releases the new cells here
    if (result.is_error()) {
        // The error carries its own detail; last_failure() echoes it for older callers.
        if (result.error().has_detail())
            m_last_failure = String(result.error().explanation());
        else if (!m_last_failure.empty())
            result = Error(result.error()).with_detail(m_last_failure.view());
    }
    m_cells_in_progress.clear();
    m_busy = false;
    return result;
}

bool Namespace::has_previous_generation(StringView name) const
{
    for (const PreviousGeneration& previous : m_previous) {
        if (previous.name == name)
            return true;
    }
    return false;
}

ErrorOr<SwapReport> Namespace::rollback_cell(StringView name, const CellLibrary* library)
{
    for (const PreviousGeneration& previous : m_previous) {
        if (previous.name == name) {
            // swap() copies the bytes before it replaces this entry with the current object.
            // A view (a library member) stays one; owned bytes are copied before this entry changes.
            return swap(Vector<SwapPair>{SwapPair{name, previous.object.bytes, previous.object.owned.empty(), false, previous.object.build_id.view()}},
                        library);
        }
    }
    m_last_failure = format("no earlier generation of cell {} is kept (it was never swapped)", name);
    return Error::make(ErrorCode::NotFound, "no previous generation to roll back to").with_detail(m_last_failure.view());
}

std::size_t Namespace::collect_retired()
{
    if (m_busy)
        return 0;
    m_busy = true;
    std::size_t released = collect_retired_locked();
    m_busy = false;
    return released;
}

Vector<LoadedCell*> Namespace::releasable_retired()
{
    if (m_busy)
        return {};
    return releasable_retired_locked();
}

std::size_t Namespace::release_retired(const Vector<LoadedCell*>& releasable)
{
    if (m_busy || releasable.empty())
        return 0;
    m_busy = true;
    std::size_t released = release_retired_locked(releasable);
    m_busy = false;
    return released;
}

std::size_t Namespace::collect_retired_locked() { return release_retired_locked(releasable_retired_locked()); }

Vector<LoadedCell*> Namespace::releasable_retired_locked()
{
    // Candidates: retiring cells no task refers to and whose handed-out pointers all came back.
    Vector<LoadedCell*> releasable;
    for (const OwnPtr<LoadedCell>& cell : m_retiring) {
        if (m_inspector->is_referenced(cell->regions()))
            continue;  // a call in flight, a return address or a pointer on some task's stack
        if (cell->m_state.outstanding
            && m_invoker.call_outstanding(cell->name(), reinterpret_cast<CellOutstandingFunction>(cell->m_state.outstanding)) != 0)
            continue;  // run-time pointers it handed out are still held
        releasable.append(cell.get());
    }
    // A cell still used by one that stays (a retiring cell kept above) stays too; retiring cells
    // that only use each other (a cycle) go together.
    auto in = [](const Vector<LoadedCell*>& cells, const LoadedCell* cell) {
        for (const LoadedCell* candidate : cells) {
            if (candidate == cell)
                return true;
        }
        return false;
    };
    for (bool changed = true; changed;) {
        changed = false;
        for (std::size_t i = 0; i < releasable.size(); ++i) {
            bool used_by_one_that_stays = false;
            for (const OwnPtr<LoadedSection>& section : releasable[i]->m_sections) {
                for (const Dependent& dependent : section->used_by)
                    used_by_one_that_stays |= !in(releasable, dependent.user->cell);
            }
            if (used_by_one_that_stays) {
                releasable.remove(i);
                changed = true;
                break;
            }
        }
    }
    return releasable;
}

std::size_t Namespace::release_retired_locked(const Vector<LoadedCell*>& releasable)
{
    if (releasable.empty())
        return 0;
    // Replaced, not stopped: no fini, but what they constructed is destroyed, users first.
    Vector<LoadedCell*> order = teardown_order_of(releasable);
    for (LoadedCell* cell : order)
        run_teardown(*cell, false);
    for (LoadedCell* cell : releasable)
        forget_retired(cell, releasable);
    std::size_t released = releasable.size();
    m_retiring.remove_all_matching([&](const OwnPtr<LoadedCell>& cell) {
        for (const LoadedCell* going : releasable) {
            if (going == cell.get())
                return true;
        }
        return false;
    });
    return released;
}

void Namespace::forget_retired(LoadedCell* cell, const Vector<LoadedCell*>& going)
{
    for (const OwnPtr<LoadedSection>& section : cell->m_sections) {
        for (const Dependency& dependency : section->uses) {
            if (dependency.provider_kind != ProviderKind::Section)
                continue;
            bool provider_goes = false;
            for (const LoadedCell* other : going)
                provider_goes |= dependency.provider->cell == other;
            if (provider_goes)
                continue;
            LoadedSection* user = section.get();
            dependency.provider->used_by.remove_all_matching([user](const Dependent& dependent) { return dependent.user == user; });
        }
    }
}

} // namespace delos::link
