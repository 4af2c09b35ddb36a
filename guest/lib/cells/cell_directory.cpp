// cell_directory.cpp: numbering, generations, states and address lookup of cells.
#include "lib/cells/cell_directory.h"

namespace delos::cells {

const char* cell_state_name(CellState state)
{
    switch (state) {
    case CellState::Loading: return "loading";
    case CellState::Live: return "live";
    case CellState::Unloading: return "unloading";
    }
    return "unknown";
}

CellRecord* CellDirectory::find_mutable(StringView name)
{
    for (CellRecord& record : m_records) {
        if (record.name == name)
            return &record;
    }
    return nullptr;
}

const CellRecord* CellDirectory::find(StringView name) const { return const_cast<CellDirectory*>(this)->find_mutable(name); }

const CellRecord* CellDirectory::find(CellId id) const
{
    for (const CellRecord& record : m_records) {
        if (record.id == id)
            return &record;
    }
    return nullptr;
}

std::uint32_t CellDirectory::generations_of(StringView name) const
{
    const std::uint32_t* count = m_generations.find(name);
    return count ? *count : 0;
}

CellId CellDirectory::id_for_entry(StringView name)
{
    if (CellRecord* record = find_mutable(name))
        return record->id;
    CellRecord record;
    record.id = m_next_id++;
    record.name = String(name);
    record.generation = generations_of(name) + 1;
    record.state = CellState::Loading;
    m_records.append(static_cast<CellRecord&&>(record));
    return m_records[m_records.size() - 1].id;
}

CellId CellDirectory::commit(StringView name, CodeRange code)
{
    CellRecord* record = find_mutable(name);
    if (!record || record->state != CellState::Loading) {
        (void)id_for_entry(name);
        record = find_mutable(name);
    }
    record->state = CellState::Live;
    record->code = code;
    record->generation = generations_of(name) + 1;
    m_generations.set(String(name), record->generation);
    return record->id;
}

void CellDirectory::abandon_loading()
{
    m_records.remove_all_matching([](const CellRecord& record) { return record.state == CellState::Loading; });
}

bool CellDirectory::begin_unload(StringView name)
{
    CellRecord* record = find_mutable(name);
    if (!record || record->state != CellState::Live)
        return false;
    record->state = CellState::Unloading;
    return true;
}

void CellDirectory::cancel_unload(StringView name)
{
    if (CellRecord* record = find_mutable(name); record && record->state == CellState::Unloading)
        record->state = CellState::Live;
}

void CellDirectory::finish_unload(StringView name)
{
    m_records.remove_all_matching([name](const CellRecord& record) { return record.name == name && record.state == CellState::Unloading; });
}

CellId CellDirectory::cell_at(std::uint64_t address) const
{
    for (const CellRecord& record : m_records) {
        if (record.state != CellState::Loading && record.code.contains(address))
            return record.id;
    }
    return kKernelCell;
}

} // namespace delos::cells
