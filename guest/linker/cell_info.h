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
