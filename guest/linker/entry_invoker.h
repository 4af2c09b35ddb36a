// entry_invoker.h: how the linker calls into a cell (constructors, init, fini, destructors).
// The kernel may run these inside a fault-contained context; host tests call them directly
// or record them; the fuzzer never runs them.
#pragma once

#include "lib/core/error_or.h"
#include "linker/cell_info.h"
#include "lib/core/string_view.h"

namespace delos::link {

enum class EntryKind : std::uint8_t { Constructor, Fini, ExitFunction, Destructor };

const char* entry_kind_name(EntryKind);

class EntryInvoker {
public:
    // The cell's init entry; its error aborts the load.
    virtual ErrorOr<void> call_init(StringView cell, CellInitFunction init) = 0;
    // A constructor, the fini entry, an exit function or a destructor.
    virtual void call(StringView cell, EntryKind kind, void (*function)()) = 0;
    // The live-evolution entries of DELOS_CELL_STATE (docs/live-evolution.md); by default called
    // directly. An error from either refuses (and undoes) the swap.
    virtual ErrorOr<void*> call_export_state(StringView, CellStateExportFunction export_state, StringView layout)
    {
        return export_state(layout);
    }
    virtual ErrorOr<void> call_adopt_state(StringView, CellStateAdoptFunction adopt_state, StringView layout, void* state)
    {
        return adopt_state(layout, state);
    }
    virtual std::uint64_t call_outstanding(StringView, CellOutstandingFunction outstanding) { return outstanding(); }

protected:
    ~EntryInvoker() = default;
};

// Calls entries directly on the current stack.
class DirectEntryInvoker final : public EntryInvoker {
public:
    ErrorOr<void> call_init(StringView, CellInitFunction init) override { return init(); }
    void call(StringView, EntryKind, void (*function)()) override { function(); }
};

} // namespace delos::link
