// cell_swap.h: one swap (live evolution) as a transaction: load and link the new versions beside
// the old ones, verify that they export what the namespace's other cells use, hand state over,
// initialise, re-point every dependent relocation, publish the new exports and retire the old
// cells. Until the re-point nothing outside the transaction is visible to other cells; any
// failure before it undoes everything (docs/live-evolution.md).
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "linker/namespace.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"

namespace delos::link {

class CellLinker;

class CellSwap {
public:
    CellSwap(Namespace& target, const CellLibrary* library, String& failure)
        : m_namespace(target), m_library(library), m_failure(failure)
    {
    }
    CellSwap(const CellSwap&) = delete;
    CellSwap& operator=(const CellSwap&) = delete;

    ErrorOr<SwapReport> run(const Vector<SwapPair>& pairs);

private:
    // One dependent relocation to rewrite: `user`'s dependency number `dependency` moves to
    // `provider` (a section of a new cell) at `address`.
    struct Repoint {
        LoadedSection* user = nullptr;
        std::uint32_t dependency = 0;
        LoadedSection* provider = nullptr;
        std::uint64_t address = 0;
    };

    ErrorOr<void> find_old_cells(const Vector<SwapPair>& pairs);
    ErrorOr<void> verify(CellLinker& linker);
    ErrorOr<void> transfer_and_initialise(CellLinker& linker);
    void hand_states_back(std::size_t count, String& detail);
    void tear_down_new(CellLinker& linker);
    ErrorOr<void> repoint(CellLinker& linker);
    void commit(CellLinker& linker, SwapReport& report);
    bool is_old(const LoadedCell* cell) const;
    bool is_retiring(const LoadedCell* cell) const;
    LoadedCell& new_cell(CellLinker& linker, std::size_t pair) const;
    std::uint64_t now() const;
    ErrorOr<void*> call_export(const LoadedCell& cell, StringView layout);
    ErrorOr<void> call_adopt(const LoadedCell& cell, StringView layout, void* state);
    Error fail(Error error, String detail);

    Namespace& m_namespace;
    const CellLibrary* m_library;
    String& m_failure;
    Vector<LoadedCell*> m_old;          // by pair
    Vector<bool> m_reload;              // by pair: a reload of the cell's own object
    Vector<StringView> m_layouts;       // by pair: the layout its state crosses in, or empty
    Vector<bool> m_transferred;         // by pair
    Vector<LoadedCell*> m_new_cells;    // by pair, once constructed
    Vector<Repoint> m_repoints;
    std::uint32_t m_repoint_permission_changes = 0;  // protect() calls of the re-point, for the report
};

} // namespace delos::link
