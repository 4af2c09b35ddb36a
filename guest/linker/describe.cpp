// describe.cpp: rendering loaded cells and their dependencies as text.
#include "linker/describe.h"

namespace delos::link {

namespace {

void write_cell_list(FormatSink& sink, const Vector<LoadedCell*>& cells)
{
    if (cells.empty()) {
        sink.write("-");
        return;
    }
    for (std::size_t i = 0; i < cells.size(); ++i)
        format_to(sink, i == 0 ? "{}" : ",{}", cells[i]->name());
}

} // namespace

void describe_cells(const Namespace& linker_namespace, FormatSink& sink)
{
    format_to(sink, "{} cells, {} symbols ({} from the kernel)\n", linker_namespace.cells().size(),
              linker_namespace.symbol_count(), linker_namespace.kernel_symbol_count());
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells()) {
        format_to(sink, "{:<16} {:<10} text {:>7} rodata {:>7} data {:>7}  uses ", cell->name(), cell->version(),
                  cell->region(SectionKind::Text).size, cell->region(SectionKind::ReadOnly).size,
                  cell->region(SectionKind::Data).size);
        write_cell_list(sink, cell->cells_used());
        sink.write("  used by ");
        write_cell_list(sink, cell->cells_using());
        sink.write("\n");
    }
}

void describe_cell(const LoadedCell& cell, FormatSink& sink)
{
    format_to(sink, "cell {} version {}\n", cell.name(), cell.version());
    for (SectionKind kind : {SectionKind::Text, SectionKind::ReadOnly, SectionKind::Data}) {
        Region region = cell.region(kind);
        if (!region.empty())
            format_to(sink, "  region {:<6} {:#x}-{:#x} {}\n", section_kind_name(kind), region.address,
                      region.address + region.size, permissions_name(section_kind_permissions(kind)));
    }
    if (!cell.got().empty())
        format_to(sink, "  got {:#x} ({} slots)\n", cell.got().address, cell.got().size / 8);
    sink.write("  uses cells: ");
    write_cell_list(sink, cell.cells_used());
    sink.write("\n  used by cells: ");
    write_cell_list(sink, cell.cells_using());
    format_to(sink, "\n  kernel symbols used: {}\n", cell.kernel_symbols_used().size());
    for (const OwnPtr<LoadedSection>& section : cell.sections()) {
        if (section->size == 0)
            continue;
        std::size_t external_users = 0;
        for (const Dependent& dependent : section->used_by) {
            if (dependent.user->cell != &cell)
                ++external_users;
        }
        format_to(sink, "  {:#x}-{:#x} {:<6} {:>6} {} (uses {}, used by {} outside)\n", section->address,
                  section->address + section->size, section_kind_name(section->kind), section->size, section->name,
                  section->uses.size(), external_users);
    }
}

} // namespace delos::link
