// cell_linker.h: one load, start to finish, as a transaction. It gathers the requested cell and
// every cell it needs, places all of them, relocates all of them, sets page permissions, runs
// their constructors and init entries (dependencies first), and only then commits them to the
// namespace. Until that commit nothing outside the linker has changed; destroying an
// uncommitted linker releases all memory it took.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/hash_map.h"
#include "lib/core/own_ptr.h"
#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::link {

class CellLibrary;
class LoadedCell;
class Namespace;

// Bounds on one load, so hostile objects cannot ask for absurd amounts of memory or work.
inline constexpr std::size_t kMaxCellsPerLoad = 64;
inline constexpr std::uint64_t kMaxRegionSize = 64ull << 20;

class CellLinker {
public:
    // A failed link() returns an error whose detail names the symbol, section or cell at fault.
    CellLinker(Namespace& target, const CellLibrary* library);
    // For a swap: the loaded cells being replaced. Their names and exports may be taken by the
    // cells of this load, and nothing of this load binds to them.
    CellLinker(Namespace& target, const CellLibrary* library, const Vector<LoadedCell*>& replacing);
    CellLinker(const CellLinker&) = delete;
    CellLinker& operator=(const CellLinker&) = delete;
    ~CellLinker();

    // `expected_name` may be empty (loading pushed bytes whose name is only known from them).
    ErrorOr<LoadedCell*> link(ByteView object, StringView expected_name);

private:
    friend class CellSwap;
    struct PendingCell;
    struct TentativeExport {
        std::size_t pending = 0;
        std::uint32_t symbol = 0;
    };
    struct Resolution;

    // `keep_copy`: the cell keeps a copy of the bytes (pushed objects); otherwise a view (library).
    // `known_build_id`: the object's build id when the caller has it (a push's verified digest, a
    // kept object's); otherwise the library's (hashed once per member) or, failing that, hashed here.
    ErrorOr<void> add(ByteView object, StringView expected_name, bool keep_copy, StringView known_build_id = {});
    bool is_replaced(const LoadedCell* cell) const;
    // A namespace definition that this load may bind to (not one of a replaced cell).
    const struct SymbolDefinition* visible_definition(StringView name) const;
    ErrorOr<void> gather_dependencies();
    ErrorOr<void> place(PendingCell&);
    ErrorOr<void> relocate(PendingCell&);
    ErrorOr<Resolution> resolve(PendingCell&, std::uint32_t symbol_index);
    ErrorOr<void> read_entries(PendingCell&);
    ErrorOr<void> protect(PendingCell&);
    ErrorOr<void> initialise();
    void tear_down_initialised(std::size_t failed_pending, const Vector<std::size_t>& order, std::size_t position);
    Vector<std::size_t> initialisation_order() const;
    LoadedCell* commit(const Vector<std::size_t>& order);
    const PendingCell* pending_named(StringView name) const;
    Error fail(Error error, String detail);

    Namespace& m_namespace;
    const CellLibrary* m_library;
    Vector<OwnPtr<PendingCell>> m_pending;
    HashMap<String, TentativeExport> m_exports;
    const Vector<LoadedCell*>* m_replacing = nullptr;
};

} // namespace delos::link
