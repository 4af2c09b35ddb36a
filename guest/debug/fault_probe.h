// fault_probe.h: run a function that is expected to fault and get control back with what
// happened — how the selftest proves that page permissions are enforced.
#pragma once

#include <cstdint>

namespace delos {

struct FaultRecord {
    std::uint64_t vector;
    std::uint64_t error_code;
    std::uint64_t instruction_pointer;
    std::uint64_t fault_address;  // CR2 for page faults
};

// Calls function(argument). Returns false if it returned normally; true if it raised a CPU
// exception, in which case `record` says which, and execution resumes here (the probed
// function's frames are abandoned: use it only on functions that own nothing).
bool run_expecting_fault(void (*function)(void*), void* argument, FaultRecord& record);

// Adds the probe to the exception hook chain (asked first: a probe expects its fault).
void install_fault_probe_hook();

} // namespace delos
