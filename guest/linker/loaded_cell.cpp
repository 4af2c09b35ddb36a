// loaded_cell.cpp: lookups and dependency summaries over a loaded cell's sections.
#include "linker/loaded_cell.h"

namespace delos::link {

namespace {

template <typename T>
void append_unique(Vector<T>& items, const T& item)
{
    for (const T& existing : items) {
        if (existing == item)
            return;
    }
    items.append(item);
}

} // namespace

const char* section_kind_name(SectionKind kind)
{
    switch (kind) {
    case SectionKind::Text: return "text";
    case SectionKind::ReadOnly: return "rodata";
    case SectionKind::Data: return "data";
    }
    return "unknown";
}

Permissions section_kind_permissions(SectionKind kind)
{
    switch (kind) {
    case SectionKind::Text: return Permissions::ReadExecute;
    case SectionKind::ReadOnly: return Permissions::ReadOnly;
    case SectionKind::Data: return Permissions::ReadWrite;
    }
    return Permissions::ReadOnly;
}

LoadedSection* LoadedCell::find_section(StringView name) const
{
    for (const OwnPtr<LoadedSection>& section : m_sections) {
        if (section->name == name)
            return section.get();
    }
    return nullptr;
}

LoadedSection* LoadedCell::section_at(std::uint64_t address) const
{
    for (const OwnPtr<LoadedSection>& section : m_sections) {
        if (section->contains(address))
            return section.get();
    }
    return nullptr;
}

CellObject CellObject::view_of(ByteView bytes)
{
    CellObject object;
    object.bytes = bytes;
    return object;
}

CellObject CellObject::copy_of(ByteView bytes)
{
    CellObject object;
    object.owned.resize(bytes.size());
    if (!bytes.empty())
        __builtin_memcpy(object.owned.data(), bytes.data(), bytes.size());
    object.bytes = ByteView(object.owned.data(), object.owned.size());
    return object;
}

Vector<Region> LoadedCell::regions() const
{
    Vector<Region> regions;
    for (const OwnedRegion& region : m_regions) {
        if (!region.region().empty())
            regions.append(region.region());
    }
    return regions;
}

bool LoadedCell::contains(std::uint64_t address) const
{
    for (const OwnedRegion& region : m_regions) {
        if (region.region().contains(address))
            return true;
    }
    return false;
}

Vector<LoadedCell*> LoadedCell::cells_used() const
{
    Vector<LoadedCell*> cells;
    for (const OwnPtr<LoadedSection>& section : m_sections) {
        for (const Dependency& dependency : section->uses) {
            if (dependency.provider_kind == ProviderKind::Section && dependency.provider->cell != this)
                append_unique(cells, dependency.provider->cell);
        }
    }
    return cells;
}

Vector<LoadedCell*> LoadedCell::cells_using() const
{
    Vector<LoadedCell*> cells;
    for (const OwnPtr<LoadedSection>& section : m_sections) {
        for (const Dependent& dependent : section->used_by) {
            if (dependent.user->cell != this)
                append_unique(cells, dependent.user->cell);
        }
    }
    return cells;
}

Vector<StringView> LoadedCell::kernel_symbols_used() const
{
    Vector<StringView> names;
    for (const OwnPtr<LoadedSection>& section : m_sections) {
        for (const Dependency& dependency : section->uses) {
            if (dependency.provider_kind == ProviderKind::Kernel)
                append_unique(names, dependency.symbol.view());
        }
    }
    return names;
}

} // namespace delos::link
