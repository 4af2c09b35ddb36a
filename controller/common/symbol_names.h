// symbol_names.h: guest symbols as people read them. Fault reports carry the mangled C++ names
// (what the guest's symbol tables hold and what fault buckets group by); everything the host
// prints for people goes through here.
#pragma once

#include <cstdint>
#include <string>

namespace delos::controller {

// `_ZN5delos13rollout_probe6handleEm` -> `delos::rollout_probe::handle(unsigned long)`; a name that
// is not a mangled C++ name (C functions, garbage from a hostile guest) comes back unchanged.
std::string demangled_symbol(const std::string& symbol);

// The demangled name without its parameter list (`delos::rollout_probe::handle`), for tables.
std::string short_symbol(const std::string& symbol);

// Free text from a guest (an error's explanation) with every mangled name in it demangled.
std::string demangle_names_in(const std::string& text);

// "NAME+0xOFFSET" with `short_symbol`, or "??+0xOFFSET" when the guest named no symbol.
std::string short_symbol_and_offset(const std::string& symbol, std::uint64_t offset);

} // namespace delos::controller
