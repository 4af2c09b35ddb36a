// cell_info.h: the record each cell carries to name itself, and DELOS_CELL, which emits it.
// The record sits alone in section ".delos.cell"; the loader reads name and version from the
// object's bytes, and the init/fini pointers from the loaded copy once they are relocated.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::link {

inline constexpr std::uint32_t kCellInfoMagic = 0x4c454344;  // "DCEL" in little-endian bytes
// The cell ABI version: the layout of CellInfo and what cells may import from the kernel
// (guest/abi/cell_kernel_interface.txt). A cell built for another version is refused at load.
#define DELOS_CELL_ABI_VERSION 1
#define DELOS_CELL_ABI_VERSION_TEXT "1"
inline constexpr std::uint32_t kCellAbiVersion = DELOS_CELL_ABI_VERSION;
inline constexpr std::size_t kCellNameCapacity = 32;     // including the NUL
inline constexpr std::size_t kCellVersionCapacity = 16;  // including the NUL
inline constexpr char kCellInfoSectionName[] = ".delos.cell";

// Runs after the cell's constructors; an error aborts the load (and nothing stays loaded).
using CellInitFunction = ErrorOr<void> (*)();
// Runs on unload, before the cell's destructors.
using CellFiniFunction = void (*)();

struct CellInfo {
    std::uint32_t magic;
    std::uint32_t abi_version;
    char name[kCellNameCapacity];        // [a-z][a-z0-9_]*, NUL-terminated
    char version[kCellVersionCapacity];  // e.g. "1.2.0", NUL-terminated
    CellInitFunction init;               // may be null
    CellFiniFunction fini;               // may be null
};
static_assert(DELOS_CELL_ABI_VERSION_TEXT[0] - '0' == DELOS_CELL_ABI_VERSION, "the two spellings of the ABI version agree");
static_assert(sizeof(CellInfo) == 72, "CellInfo layout is part of the cell ABI");
static_assert(offsetof(CellInfo, init) == 56 && offsetof(CellInfo, fini) == 64, "CellInfo layout is part of the cell ABI");

// Optional, for live evolution (docs/live-evolution.md): how a cell hands its state to the
// version replacing it, and adopts the state of the version it replaces. The state crosses as an
// owned heap value in a named *layout* ("kv.entries/1"): both cells list the layouts they speak,
// comma-separated, preferred first; a swap picks the first layout of the new cell's list that
// the old cell also lists, and refuses before anything changes when there is none. A cell must
// be able to export and adopt every layout it lists (a failed swap hands the state back).
inline constexpr std::uint32_t kCellStateMagic = 0x54534344;  // "DCST"
inline constexpr std::uint32_t kCellStateAbiVersion = 1;
inline constexpr std::size_t kCellStateLayoutsCapacity = 64;  // including the NUL
inline constexpr char kCellStateSectionName[] = ".delos.cell.state";

// Hands the cell's state over in `layout` as an owned heap value and leaves the cell empty.
using CellStateExportFunction = ErrorOr<void*> (*)(StringView layout);
// Takes ownership of `state` (in `layout`) on success; on failure ownership stays with the caller.
using CellStateAdoptFunction = ErrorOr<void> (*)(StringView layout, void* state);
// How many pointers into this cell it has handed out at run time that are still held elsewhere
// (callbacks, vtables of objects it created). A retiring cell stays in memory while non-zero.
using CellOutstandingFunction = std::uint64_t (*)();

struct CellStateRecord {
    std::uint32_t magic;
    std::uint32_t abi_version;
    char layouts[kCellStateLayoutsCapacity];  // e.g. "kv.entries/2,kv.entries/1", NUL-terminated
    CellStateExportFunction export_state;     // may be null: the cell hands nothing over
    CellStateAdoptFunction adopt_state;       // may be null: the cell adopts nothing
    CellOutstandingFunction outstanding;      // may be null: it hands out no long-lived pointers
};
static_assert(sizeof(CellStateRecord) == 96, "CellStateRecord layout is part of the cell ABI");
static_assert(offsetof(CellStateRecord, export_state) == 72 && offsetof(CellStateRecord, adopt_state) == 80
                  && offsetof(CellStateRecord, outstanding) == 88,
              "CellStateRecord layout is part of the cell ABI");

} // namespace delos::link

// Each cell's own record. Hidden, so it is never exported: every cell binds its references
// to its own copy, which is how code inside a cell learns the cell's name.
extern "C" [[gnu::visibility("hidden")]] const delos::link::CellInfo delos_cell_info;

namespace delos {
// The name of the cell this code was linked into (only meaningful inside a cell).
inline StringView this_cell_name() { return StringView(delos_cell_info.name); }
} // namespace delos

// DELOS_CELL("kv", "1.2.0", kv_init, kv_fini): declares the cell, once, in one of its .cpp files.
// INIT is `delos::ErrorOr<void> f()` or nullptr; FINI is `void f()` or nullptr.
#define DELOS_CELL(NAME, VERSION, INIT, FINI)                                                                 \
    static_assert(sizeof(NAME) <= ::delos::link::kCellNameCapacity, "cell name is longer than 31 characters"); \
    static_assert(sizeof(VERSION) <= ::delos::link::kCellVersionCapacity,                                      \
                  "cell version is longer than 15 characters");                                                \
    extern "C" [[gnu::used, gnu::section(".delos.cell")]] const ::delos::link::CellInfo delos_cell_info = {    \
        ::delos::link::kCellInfoMagic, ::delos::link::kCellAbiVersion, NAME, VERSION, INIT, FINI}

// DELOS_CELL_STATE("kv.entries/1", export_fn, adopt_fn, outstanding_fn): at most once per cell.
#define DELOS_CELL_STATE(LAYOUTS, EXPORT, ADOPT, OUTSTANDING)                                                   \
    static_assert(sizeof(LAYOUTS) <= ::delos::link::kCellStateLayoutsCapacity, "state layouts are longer than 63 characters"); \
    extern "C" [[gnu::used, gnu::visibility("hidden"), gnu::section(".delos.cell.state")]] const ::delos::link::CellStateRecord \
        delos_cell_state = {::delos::link::kCellStateMagic, ::delos::link::kCellStateAbiVersion, LAYOUTS, EXPORT, ADOPT, OUTSTANDING}
