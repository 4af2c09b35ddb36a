// describe.h: the text the kernel prints about loaded cells (name, version, regions, sections
// with address ranges, and which cells each one uses and is used by).
#pragma once

#include "lib/core/format.h"
#include "linker/loaded_cell.h"
#include "linker/namespace.h"

namespace delos::link {

// One line per cell: name, version, region sizes, cells used and cells using it.
void describe_cells(const Namespace&, FormatSink&);
// Everything about one cell, including every non-empty section with its range and its users.
void describe_cell(const LoadedCell&, FormatSink&);

} // namespace delos::link
