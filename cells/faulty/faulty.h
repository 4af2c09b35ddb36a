// faulty.h: the interface of the test-only cell faulty (fault recovery's tests and
// delos-bench-faults): it faults on demand, in the ways a buggy cell does, and keeps state that
// shows whether a copy of it is fresh.
#pragma once

#include <cstdint>

namespace delos::faulty {

enum FaultHow : int {
    kNoFault = 0,
    kNullWrite = 1,      // a write through a null pointer (#PF)
    kWildJump = 2,       // a call into the cell's data (#PF, instruction fetch from an NX page)
    kInvalidOpcode = 3,  // ud2 (#UD)
    kDivideByZero = 4,   // (#DE)
};

// Serves one call: faults first if `how` says so, else returns how many calls this copy has
// served (a fresh copy starts at 1).
std::uint64_t serve(int how);
// A value in .data (a fresh copy starts with kInitialMarker); tests change it to see a reload.
inline constexpr std::uint64_t kInitialMarker = 0xfa0171;
std::uint64_t marker();
void set_marker(std::uint64_t value);
// The cell's service task ("faulty-beat", started by its init) counts beats; told to, it faults
// at its next beat (then the kind is cleared, so its restarted instance beats on).
std::uint64_t service_beats();
void fault_service(int how);
// 1 for faulty 1.0.0, 2 for faulty 2.0.0.
int version_number();

} // namespace delos::faulty
