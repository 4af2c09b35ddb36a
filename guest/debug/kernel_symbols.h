// kernel_symbols.h: the kernel's own symbol table, embedded in its image after linking
// (by guest/tools/embed_kernel_symbols), for backtraces and for linking cells against the kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/string_view.h"

namespace delos::kernel_symbols {

struct Symbol {
    std::uint64_t address;
    std::uint64_t size;
    StringView name;          // as linked (mangled)
    StringView display_name;  // demangled, for people
    bool exported;            // global and visible: cells may link against it
};

// The symbol containing `address`, if any (binary search over the sorted table).
bool lookup(std::uint64_t address, Symbol& out);
// The exported symbol named `name` (mangled), if any.
bool find(StringView name, Symbol& out);

std::size_t count();
Symbol at(std::size_t index);

// Who owns code: "kernel" (version empty), or a loaded cell's name and version.
struct CodeOwner {
    StringView name;
    StringView version;
    StringView build_id = {};  // a cell's (LoadedCell::build_id); empty for the kernel
    StringView section = {};   // the section holding the code (".text.<mangled name>" in a cell)
};

// The symbolizer for code outside the kernel image: the cell manager fills it from the
// namespace's records (cell, version, the function's section). The views it returns must stay
// valid while the cell is loaded.
using Symbolizer = bool (*)(std::uint64_t address, Symbol& out, CodeOwner& owner);
void set_external_symbolizer(Symbolizer);
// Whether the external symbolizer's records hold still now, for callers that interrupt other
// tasks at any point (the watchdog's timer tick): a load or unload that was preempted midway
// may be changing them. Installed by the cell manager; true if none is installed.
using SymbolizerQuiescent = bool (*)();
void set_external_symbolizer_quiescent(SymbolizerQuiescent);
bool external_symbolizer_quiescent();
// Kernel first, then the external symbolizer.
bool symbolize(std::uint64_t address, Symbol& out, CodeOwner& owner);
// The same, with only the owner's name ("kernel" or the cell's).
bool symbolize(std::uint64_t address, Symbol& out, StringView& owner);

} // namespace delos::kernel_symbols
