// fault_log.h: a bounded ring of the most recent contained faults, for whoever reports them
// (the control agent's fault events and `delos-chan faults` are to read it); the oldest entry
// is overwritten. Locations are formatted when the fault is recorded: a cell may be gone later.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/string_view.h"
#include "task/task.h"

namespace delos::task {

inline constexpr std::size_t kFaultLogCapacity = 16;
inline constexpr std::size_t kFaultLogFrames = 8;  // backtrace frames kept per fault, innermost first

// A symbolised code address; names are cut to fit and always NUL-terminated.
struct FaultLogCode {
    std::uint64_t address = 0;
    std::uint64_t symbol_offset = 0;
    char symbol[80] = {};      // "" if unknown
    char owner[40] = {};       // "kernel" or the cell's name; "" if unknown
    char version[24] = {};     // the cell's version; "" for the kernel
};

// The general registers at the fault (the interrupted frame), rip and rflags.
struct FaultRegisters {
    std::uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags;
};

// Where the faulting instruction lies, beyond its symbol: the cell's build id and the section.
struct FaultLogPlace {
    char build_id[44] = {};  // "" for the kernel
    char section[96] = {};   // "" for the kernel
    std::uint64_t section_offset = 0;
};

// What fault recovery did about a fault (guest/recovery_policy/), as FaultReport.action says it.
enum class RecoveryTaken : std::uint8_t {
    TaskKilled,       // the task ended Faulted; nothing else
    TaskRestarted,    // a restartable task was spawned again
    CellReloaded,     // the faulting cell was replaced by a fresh copy of itself
    CellQuarantined,  // the faulting cell's services stopped, calls into it refused
    CellRolledBack,   // the faulting cell went back to the generation a recent swap replaced
};

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
    FaultLogCode at;          // the faulting instruction, symbolised when it faulted
    FaultLogCode backtrace[kFaultLogFrames];
    std::uint32_t backtrace_frames = 0;
    FaultRegisters registers = {};
    FaultLogPlace place;
    // When the unwind could not start at the fault and resumed at a return address up the stack:
    // where the call before that return address went (the frames skipped were that callee's, or
    // its callees'); 0 if not resynchronised or not a call whose target can be read.
    std::uint64_t skipped_call_target = 0;
    // The function the task's innermost open call through the cell call gate called (0 if none is
    // open): a fault at no code inside it (a wild jump or return of the callee) is that cell's.
    std::uint64_t open_gate_call = 0;
    // Fault recovery's decision, made when the fault is contained (set_fault_recovery_decider).
    RecoveryTaken recovery = RecoveryTaken::TaskKilled;
    char recovery_cell[40] = {};   // the cell the fault was blamed on; "" if none (a kernel fault)
    char recovery_note[160] = {};  // one line: what was decided and why
    std::uint32_t cell_faults = 0;      // faults blamed on that cell so far, this one included
    std::uint32_t cell_generation = 0;  // its generation when it faulted
};

// This boot's id: 32 hex digits, random (RDRAND where the CPU has it, else TSC-seeded), made
// once at the first call (kernel_main calls it early). A collector de-duplicates faults by
// (boot id, sequence).
const char* boot_id();
// Draws a fresh boot id, `salt` (e.g. a snapshot clone's VM generation) mixed into the seed;
// boot_id() returns it from then on. For a guest restored from a snapshot: it is a new boot.
const char* renew_boot_id(StringView salt);

// Fills `code` for `address` (symbolised at `lookup_address`: a return address looks up its call).
void describe_fault_code(FaultLogCode& code, std::uint64_t address, std::uint64_t lookup_address);
void describe_fault_place(FaultLogPlace& place, std::uint64_t address);

// Keeps `entry` in the ring, then tells the listener (if any) that a fault was recorded.
void record_fault(const FaultLogEntry& entry);
// Called after each recorded fault, from the fault path (interrupts masked, on the faulting
// task's stack or in the timer tick): it must not block or allocate. The control agent sets it to
// wake itself, so a report goes to the host at once instead of at its next wake-up.
using FaultRecordedListener = void (*)();
void set_fault_recorded_listener(FaultRecordedListener listener);
// Entries are ~1.7 KiB: copy few at a time on a task's 16 KiB stack.
// Copies up to `capacity` of the most recent entries, oldest first; returns how many.
std::size_t copy_recent_faults(FaultLogEntry* out, std::size_t capacity);
// The oldest entry still in the ring whose sequence is above `after`; false if none.
bool copy_fault_after(std::uint64_t after, FaultLogEntry& out);
// How many faults were ever recorded (also how many the ring has dropped beyond its capacity).
std::uint64_t faults_recorded();

} // namespace delos::task
