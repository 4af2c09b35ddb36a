// export_rule.h: which symbols of a cell enter the namespace (the weak/COMDAT rule, in one place).
//
// Exported: STB_GLOBAL symbols with default or protected visibility, defined in an allocated
// section that belongs to no COMDAT group. Everything else stays private to its cell: weak and
// STB_GNU_UNIQUE definitions and anything in a COMDAT group (the inline functions, template
// instances, vtables and guard variables every cell gets from shared headers). A cell's own
// references always bind to its own definitions, so those copies never clash across cells and
// never tie one cell to another's incidental copy.
#pragma once

#include "linker/relocatable_object.h"

namespace delos::link {

bool is_exported_symbol(const RelocatableObject& object, const ObjectSymbol& symbol);

} // namespace delos::link
