// cell_summary.cpp: copying a loaded cell's description out of the linker's records.
#include "lib/cells/cell_summary.h"

namespace delos::cells {

CellSummary summarize_cell(const link::LoadedCell& cell, const CellRecord* record, bool with_sections)
{
    CellSummary summary;
    summary.name = String(cell.name());
    summary.version = String(cell.version());
    summary.build_id = String(cell.build_id());
    if (record) {
        summary.id = record->id;
        summary.state = record->state;
        summary.generation = record->generation;
    }
    summary.quarantined = cell.quarantined();
    summary.section_count = static_cast<std::uint32_t>(cell.sections().size());
    summary.text_bytes = cell.region(link::SectionKind::Text).size;
    summary.rodata_bytes = cell.region(link::SectionKind::ReadOnly).size;
    summary.data_bytes = cell.region(link::SectionKind::Data).size;
    summary.object_bytes = cell.object().bytes.size();
    for (const link::LoadedCell* used : cell.cells_used())
        summary.dependencies.append(String(used->name()));
    for (const link::LoadedCell* user : cell.cells_using())
        summary.dependents.append(String(user->name()));
    if (with_sections) {
        summary.sections.reserve(cell.sections().size());
        for (const OwnPtr<link::LoadedSection>& section : cell.sections()) {
            SectionSummary entry;
            entry.name = String(section->name.view());
            entry.kind = section->kind;
            entry.address = section->address;
            entry.size = section->size;
            entry.uses = static_cast<std::uint32_t>(section->uses.size());
            entry.used_by = static_cast<std::uint32_t>(section->used_by.size());
            summary.sections.append(static_cast<SectionSummary&&>(entry));
        }
    }
    return summary;
}

} // namespace delos::cells
