// fault_log.h: a bounded ring of the most recent contained faults, for whoever reports them
// (the control agent's fault events and `delos-chan faults` are to read it); the oldest entry
// is overwritten. Locations are formatted when the fault is recorded: a cell may be gone later.
#pragma once

#include <cstddef>
#include <cstdint>

#include "task/task.h"

namespace delos::task {

inline constexpr std::size_t kFaultLogCapacity = 16;

struct FaultLogEntry {
    std::uint64_t sequence = 0;
    std::uint64_t vector = 0;
    std::uint64_t error_code = 0;
    std::uint64_t instruction_pointer = 0;
    std::uint64_t fault_address = 0;
    TaskId task = 0;
    CellId cell = 0;
    char task_name[kTaskNameLength] = {};
    char location[192] = {};  // "symbol+0xoff (cell NAME VERSION)" or "... (kernel)" or "?"
};

void record_fault(const FaultLogEntry& entry);
// Copies up to `capacity` of the most recent entries, oldest first; returns how many.
std::size_t copy_recent_faults(FaultLogEntry* out, std::size_t capacity);
// How many faults were ever recorded (also how many the ring has dropped beyond its capacity).
std::uint64_t faults_recorded();

} // namespace delos::task
