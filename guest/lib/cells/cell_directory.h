// cell_directory.h: the cell manager's book of cells: a number (CellId) for every cell loaded
// since boot, never reused, its generation (how many times a cell of that name has been
// committed), its state, and its code's address range, so any address (a task's entry, a
// faulting instruction) maps to the cell it belongs to. Freestanding and unlocked: the kernel
// guards it (linker/kernel/cell_manager.cpp); host tests drive it directly.
#pragma once

#include <cstdint>

#include "lib/core/hash_map.h"
#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::cells {

using CellId = std::uint64_t;
inline constexpr CellId kKernelCell = 0;

enum class CellState : std::uint8_t {
    Loading,    // being linked; its constructors and init may be running
    Live,       // loaded and committed
    Unloading,  // its fini, exit functions and destructors may be running
};
const char* cell_state_name(CellState);

struct CodeRange {
    std::uint64_t address = 0;
    std::uint64_t size = 0;
    bool contains(std::uint64_t where) const { return where >= address && where - address < size; }
};

struct CellRecord {
    CellId id = kKernelCell;
    String name;
    std::uint32_t generation = 0;  // 1 for the first version of a name ever committed
    CellState state = CellState::Loading;
    CodeRange code;  // empty until the cell is committed
};

class CellDirectory {
public:
    // The record a cell's entry (constructor, init, fini, destructor) runs under: the one with
    // this name, or a new Loading one (a cell seen for the first time in the current load).
    CellId id_for_entry(StringView name);
    // The load went through: `name` becomes Live with its code range (a record is created for a
    // cell that ran no entry). Its generation is counted here.
    CellId commit(StringView name, CodeRange code);
    // The load failed: every Loading record goes (their numbers are not reused).
    void abandon_loading();
    // Unloading a Live cell; cancelled (back to Live) if the namespace refuses, finished once gone.
    bool begin_unload(StringView name);
    void cancel_unload(StringView name);
    void finish_unload(StringView name);

    // The committed cell whose code contains `address`, else kKernelCell.
    CellId cell_at(std::uint64_t address) const;
    const CellRecord* find(StringView name) const;
    const CellRecord* find(CellId id) const;
    // In the order cells were first seen.
    const Vector<CellRecord>& records() const { return m_records; }
    // How many versions of `name` have been committed so far (0: never).
    std::uint32_t generations_of(StringView name) const;

private:
    CellRecord* find_mutable(StringView name);

    Vector<CellRecord> m_records;
    HashMap<String, std::uint32_t> m_generations;
    CellId m_next_id = 1;
};

} // namespace delos::cells
