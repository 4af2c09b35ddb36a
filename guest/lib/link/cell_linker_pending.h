// cell_linker_pending.h: a cell in the middle of a load (parsed, placed, not yet committed),
// shared by the linker and the swap transaction that drives it.
#pragma once

#include <cstdint>
#include <utility>

#include "lib/link/cell_identity.h"
#include "lib/link/cell_linker.h"
#include "lib/link/loaded_cell.h"
#include "lib/link/relocatable_object.h"
#include "lib/own_ptr.h"
#include "lib/vector.h"

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
