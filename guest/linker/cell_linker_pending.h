// cell_linker_pending.h: a cell in the middle of a load (parsed, placed, not yet committed),
// shared by the linker and the swap transaction that drives it.
#pragma once

#include <cstdint>
#include <utility>

#include "linker/cell_identity.h"
#include "linker/cell_linker.h"
#include "linker/loaded_cell.h"
#include "linker/relocatable_object.h"
#include "lib/core/own_ptr.h"
#include "lib/core/vector.h"

namespace delos::link {

struct CellLinker::PendingCell {
    explicit PendingCell(RelocatableObject&& parsed) : object(std::move(parsed)) {}

    RelocatableObject object;
    CellIdentity identity;
    OwnPtr<LoadedCell> cell;
    Vector<LoadedSection*> placed;       // by section index; null for sections not loaded
    Vector<std::uint32_t> got_slots;     // by symbol index
    Vector<std::uint32_t> imports;       // undefined symbols that loaded sections refer to
    bool constructed = false;
    bool initialised = false;
};

} // namespace delos::link
