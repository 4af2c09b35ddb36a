// cell_summary.h: what the cell manager tells the rest of the kernel about a cell, as a copy
// (names, version, state, generation, region sizes, dependencies, sections), so callers such as
// the control agent never hold pointers into the linker's namespace.
#pragma once

#include <cstdint>

#include "lib/cells/cell_directory.h"
#include "linker/loaded_cell.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"

namespace delos::cells {

struct SectionSummary {
    String name;
    link::SectionKind kind = link::SectionKind::Data;
    std::uint64_t address = 0;
    std::uint64_t size = 0;
    std::uint32_t uses = 0;     // relocations in this section
    std::uint32_t used_by = 0;  // relocations elsewhere that point into it
};

struct CellSummary {
    CellId id = kKernelCell;
    String name;
    String version;
    String build_id;  // LoadedCell::build_id
    CellState state = CellState::Live;
    std::uint32_t generation = 0;
    std::uint32_t section_count = 0;
    std::uint64_t text_bytes = 0;
    std::uint64_t rodata_bytes = 0;
    std::uint64_t data_bytes = 0;        // data and bss
    std::uint64_t object_bytes = 0;      // the ELF object it was linked from (kept for rollback)
    Vector<String> dependencies;  // cells this one uses
    Vector<String> dependents;    // cells that use this one
    std::uint32_t task_count = 0; // live tasks running in it (filled by the kernel)
    bool quarantined = false;     // fault recovery refuses calls into it
    Vector<SectionSummary> sections;  // only when asked for
};

// `record` may be null (a cell the directory does not know: id 0, generation 0).
CellSummary summarize_cell(const link::LoadedCell& cell, const CellRecord* record, bool with_sections);

} // namespace delos::cells
