// call_ownership.h: what one call into a cell owns, released when the call ends — returned or
// faulted (docs/cell-memory-ownership.md). While a CallOwnership is open for a task, heap objects
// that the cell's own code allocates on that task (operator new asked for by an address inside the
// cell's code) and page runs it maps (MappedPages::allocate asked for from there) are recorded;
// freeing or unmapping them (by any task, on any CPU) forgets them; what the call hands out is
// taken out with hand_out(). close() releases everything still recorded: the objects a skipped
// destructor, a skipped free or an unwind that resumed above the cell's frames left behind.
//
// The contract of a call opened this way: the cell keeps no state of its own from the call, so
// what its code allocated and did not hand out is garbage once the call is over. Cells it calls
// in turn (kv storing a key) allocate from their own code and are not charged.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/call_ledger.h"
#include "lib/core/error_or.h"

namespace delos::memory {

class SharedMappedPages;

// What close() released.
struct CallRelease {
    std::uint64_t objects = 0;     // heap objects freed
    std::uint64_t bytes = 0;
    std::uint64_t page_runs = 0;   // page runs unmapped and freed (or their shared blocks dropped)
    std::uint64_t untracked = 0;   // charges the ledger had no room for (left as they are)
    std::uint64_t refused = 0;     // recorded objects whose header no longer checks out (left alone)
    std::uint64_t total() const { return objects + page_runs; }
};

class CallOwnership {
public:
    CallOwnership() = default;
    ~CallOwnership();
    CallOwnership(const CallOwnership&) = delete;
    CallOwnership& operator=(const CallOwnership&) = delete;

    // Starts charging the current task's allocations made from [code_start, code_start + size).
    // An open ledger is closed (and released) first. Fails when too many calls are open.
    ErrorOr<void> open(std::uint64_t code_start, std::uint64_t code_size);
    // The same for allocations asked for from any of `ranges` (at most CallLedger::kMaxOpenedCodeRanges).
    ErrorOr<void> open(const CallLedger::CodeRange* ranges, std::size_t count);
    bool is_open() const;
    // The caller keeps these pages (the call's reply): no longer released by close(). The handle
    // was written by the cell, so it is checked before anything reads through it: it must name
    // the block this call shared one of its own runs into, and that block must still hold exactly
    // the run the ledger recorded (start and size: a corrupted size would free other owners'
    // frames when the last handle goes). Anything else (a stale handle of an earlier reply, a
    // corrupted pointer, a block whose extent changed) is dropped from `pages` untouched and false returned;
    // the call's own runs stay recorded and close() releases them. An empty handle, or a ledger
    // not open, is passed through (true).
    bool hand_out(SharedMappedPages& pages);
    // Ends the call: releases what it still owns. Safe from any task once the calling task no
    // longer runs in the call (it returned, or ended Faulted); a closed ledger releases nothing.
    CallRelease close();

    // Calls open now, system-wide (for tests).
    static std::size_t open_count();

private:
    CallLedger m_ledger;
};

// A cell's code moved (CellManager's reload or swap, with every other CPU parked): each open call
// charging the old code charges the new copy too, so a call opened before the move that enters
// the new copy still owns what that copy allocates. Returns how many calls follow it.
std::size_t follow_moved_cell_code(std::uint64_t old_start, std::uint64_t old_size, std::uint64_t new_start, std::uint64_t new_size);

// The start of the code that an open call of `task` was opened into (the cell it called), or 0
// when the task is in no open call. Fault recovery blames that cell for a fault at an address
// that is no cell's code (a wild jump: the unwind then starts in the caller, which did nothing
// wrong). Takes the ledgers' lock: not for a CPU that may already hold it.
std::uint64_t open_call_target_code(std::uint64_t task);
// Whether `address` is code an open call of `task` charges (the called cell's, or the caller's
// own code around the call that it opened the call with). Same lock as above.
bool open_call_charges_code(std::uint64_t task, std::uint64_t address);

// A service cell hands its caller a heap object it allocated for it (a value it returns, such as
// kv::get's copy of a stored value): when `caller` (the service's return address) is code an open
// call of this task charges, the object is charged to that call as if the caller had allocated it,
// so a fault that skips its destructor in the caller does not leak it. Stored state must never be
// passed here: only what the caller alone holds. A pointer the heap never handed out is a fault of
// the calling task (heap_allocation_size's refusal).
void charge_returned_object(const void* object, const void* caller);

// Hooks for operator new, heap_free and MappedPages (memory/ and runtime/ only).
void charge_object_to_call(void* object, const void* caller);
void forget_call_owned_object(void* object);
void charge_page_run_to_call(std::uint64_t start, std::uint64_t size, std::uint64_t owner, const void* caller);
// How a run being released (MappedPages::release, asked for by code at `caller`) stands with the
// open calls. A recorded run is taken out and released by its record (`recorded`): what the
// object says may be a faulty cell's corrupted size. A call's own code (on its task) may release
// only a run it mapped in the call and still holds unshared: anything else it names is Foreign,
// refused (a wild `this`), unless the call's ledger overflowed (then it cannot know).
enum class RunRelease : std::uint8_t { NotRecorded, Recorded, Foreign };
RunRelease settle_released_page_run(std::uint64_t start, const void* caller, CallLedger::PageRun& recorded);
void share_call_owned_page_run(std::uint64_t start, void* block);

} // namespace delos::memory
