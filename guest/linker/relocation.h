// relocation.h: x86-64 relocation arithmetic (psABI 4.4): computes one relocation's value,
// checks that it fits its field, and only then writes it. Shared by the first link of a cell
// and by anything that later re-points a recorded relocation (live evolution).
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::link {

// True for the types apply_relocation() understands.
bool is_supported_relocation(std::uint32_t type);
// GOTPCREL, GOTPCRELX and REX_GOTPCRELX: the instruction reads the symbol's address from a
// GOT slot, so the linker must give the symbol a slot and pass its address.
bool relocation_uses_got(std::uint32_t type);
// "R_X86_64_PC32" etc., or "unknown".
const char* relocation_type_name(std::uint32_t type);

// Everything one relocation needs. S is the symbol's address, A the addend, P the place's
// address; `place` is where the bytes go (writable), which for the guest's identity map is P.
struct RelocationSite {
    std::uint32_t type = 0;
    std::uint8_t* place = nullptr;
    std::uint64_t place_address = 0;   // P
    std::uint64_t symbol_address = 0;  // S
    std::int64_t addend = 0;           // A
    std::uint64_t got_slot_address = 0;  // G + GOT, for the GOT types (the slot must already hold S)
};

// Computes the value (S + A, S + A - P, or G + GOT + A - P) and writes it; refuses unknown types
// (error value: the type) and values that do not fit their field (error value: the value).
// Nothing is written when it fails.
ErrorOr<void> apply_relocation(const RelocationSite&);

} // namespace delos::link
