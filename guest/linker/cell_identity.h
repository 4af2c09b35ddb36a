// cell_identity.h: finds and checks a cell's DELOS_CELL record in its object file.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "linker/relocatable_object.h"
#include "lib/core/string_view.h"

namespace delos::link {

struct CellIdentity {
    StringView name;     // views into the object's bytes
    StringView version;
    std::uint32_t section = kNoSection;  // the ".delos.cell" section
    // The optional DELOS_CELL_STATE record (".delos.cell.state"), for live evolution.
    std::uint32_t state_section = kNoSection;
    StringView state_layouts;            // comma-separated, preferred first; empty without a record
};

// The first layout of `preferred` (comma-separated) that `offered` also lists; empty if none.
StringView common_state_layout(StringView preferred, StringView offered);

// Refuses objects with no record, more than one, a bad magic or ABI version, or a name or
// version that is empty, unterminated or uses characters outside the allowed sets.
ErrorOr<CellIdentity> read_cell_identity(const RelocatableObject&);

// Cell names: a lowercase letter, then lowercase letters, digits or '_'; at most 31 characters.
bool is_valid_cell_name(StringView);

} // namespace delos::link
