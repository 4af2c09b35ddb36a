// cell_library.h: an archive of cell objects, indexed by the symbols each cell exports, so that
// loading a cell can find and load the cells it depends on. The archive's own "/" symbol index
// is not trusted: the library reads every member's symbol table itself.
#pragma once

#include <cstddef>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/hash_map.h"
#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"
#include "linker/build_id.h"

namespace delos::link {

struct LibraryCell {
    StringView name;      // from its DELOS_CELL record; views into the archive bytes
    StringView version;
    ByteView object;
    StringView tagged_name;  // for other versions: "<name>.<tag>" (e.g. "kv.v2"); else empty
    // Computed at the member's first load or swap (build_id_of), under the cell manager's lock
    // like every load; the archive's bytes never change.
    mutable BuildId build_id;
};

class CellLibrary {
public:
    // Each member must be a valid cell object called "<cell name>.o", and cell names must be
    // unique. Members called "<cell name>.<tag>.o" are other versions of that cell, for swaps:
    // listed by versions(), never loaded by name nor used to satisfy a dependency. On failure `detail` (if given) names the offending member.
    static ErrorOr<CellLibrary> from_archive(ByteView archive, String* detail = nullptr);

    const Vector<LibraryCell>& cells() const { return m_cells; }
    const LibraryCell* find_cell(StringView name) const;
    const Vector<LibraryCell>& versions() const { return m_versions; }
    // The version archived as "<name>.<tag>.o", by "<name>.<tag>".
    const LibraryCell* find_version(StringView tagged_name) const;
    // The cell that exports `symbol` (a strong definition, see export_rule.h), if any.
    const LibraryCell* provider_of(StringView symbol) const;
    // The member whose bytes `object` is (the same memory, not equal contents), if any.
    const LibraryCell* member_at(ByteView object) const;
    // The build id of a member's object (`object` as member_at takes it), hashed once per
    // member; unknown when `object` is not a member.
    BuildId build_id_of(ByteView object) const;

private:
    CellLibrary() = default;

    Vector<LibraryCell> m_cells;
    Vector<LibraryCell> m_versions;
    HashMap<String, std::size_t> m_providers;
};

} // namespace delos::link
