// cell_quarantine.cpp: fault recovery's quarantine of a cell in the namespace: every relocation
// by which another live cell reaches the cell's code is rewritten to a refusal routine, checked
// first so that a refusal writes nothing. The dependency graph keeps the real targets, so a later
// swap or reload re-points those users to the new code (docs/fault-recovery.md).
#include "lib/core/format.h"
#include "linker/namespace.h"
#include "linker/relocation.h"

namespace delos::link {

namespace {

SectionKind written_region(const LoadedSection& user, const Dependency& dependency)
{
    return relocation_uses_got(dependency.relocation.type) ? kGotRegion : user.kind;
}

} // namespace

ErrorOr<std::uint32_t> Namespace::quarantine_cell(StringView name, std::uint64_t refusal)
{
    if (m_busy)
        return Error::make(ErrorCode::Busy, "the namespace is in the middle of loading or unloading")
            .with_detail(format("cell {} cannot be quarantined from inside a cell entry", name));
    LoadedCell* cell = find_cell(name);
    if (!cell)
        return Error::make(ErrorCode::NotFound, "no loaded cell with that name").with_detail(format("no loaded cell is called {}", name));
    if (cell->m_quarantined)
        return std::uint32_t(0);

    struct Rewrite {
        LoadedSection* user;
        const Dependency* dependency;
    };
    Vector<Rewrite> rewrites;
    for (const OwnPtr<LoadedSection>& section : cell->m_sections) {
        if (section->kind != SectionKind::Text)
            continue;  // its data stays readable; calls are what is refused
        for (const Dependent& dependent : section->used_by) {
            LoadedCell* user_cell = dependent.user->cell;
            if (user_cell == cell)
                continue;
            bool retiring = false;
            for (const OwnPtr<LoadedCell>& old : m_retiring)
                retiring |= old.get() == user_cell;
            if (retiring)
                continue;  // on its way out
            const Dependency& dependency = dependent.user->uses[dependent.dependency];
            if (!relocation_uses_got(dependency.relocation.type)) {
                std::uint8_t scratch[8];
                RelocationSite site;
                site.type = dependency.relocation.type;
                site.place = scratch;
                site.place_address = dependent.user->address + dependency.relocation.offset;
                site.symbol_address = refusal;
                site.addend = dependency.relocation.addend;
                if (auto fits = apply_relocation(site); fits.is_error())
                    return Error(fits.error()).with_detail(format(
                        "quarantining cell {}: cell {}'s reference at {} + {:#x} ({}) cannot reach the refusal routine: {}; nothing changed",
                        name, user_cell->name(), dependent.user->name, dependency.relocation.offset,
                        relocation_type_name(dependency.relocation.type), fits.error().message));
            }
            rewrites.append(Rewrite{dependent.user, &dependency});
        }
    }

    // Open every region written, then write; on a refusal to open, close what was opened.
    struct Opened {
        LoadedCell* cell;
        SectionKind kind;
    };
    Vector<Opened> opened;
    auto restore = [&] {
        for (const Opened& region : opened)
            (void)m_memory.protect(region.cell->region(region.kind), section_kind_permissions(region.kind));
    };
    for (const Rewrite& rewrite : rewrites) {
        SectionKind kind = written_region(*rewrite.user, *rewrite.dependency);
        if (kind == SectionKind::Data)
            continue;
        bool already = false;
        for (const Opened& region : opened)
            already |= region.cell == rewrite.user->cell && region.kind == kind;
        if (already)
            continue;
        if (auto writable = m_memory.protect(rewrite.user->cell->region(kind), Permissions::ReadWrite); writable.is_error()) {
            restore();
            return Error(writable.error()).with_detail(format("quarantining cell {}: cell {}'s {} region cannot be made writable; nothing changed",
                                                              name, rewrite.user->cell->name(), section_kind_name(kind)));
        }
        opened.append(Opened{rewrite.user->cell, kind});
    }
    for (const Rewrite& rewrite : rewrites) {
        const Dependency& dependency = *rewrite.dependency;
        if (relocation_uses_got(dependency.relocation.type)) {
            __builtin_memcpy(reinterpret_cast<void*>(dependency.relocation.got_slot), &refusal, sizeof refusal);
            continue;
        }
        RelocationSite site;
        site.type = dependency.relocation.type;
        site.place_address = rewrite.user->address + dependency.relocation.offset;
        site.place = reinterpret_cast<std::uint8_t*>(site.place_address);
        site.symbol_address = refusal;
        site.addend = dependency.relocation.addend;
        (void)apply_relocation(site);  // checked above
    }
    restore();
    cell->m_quarantined = true;
    return static_cast<std::uint32_t>(rewrites.size());
}

} // namespace delos::link
