// call_ownership.cpp: the registry of open calls' ledgers, and releasing what a call left behind.
#include "memory/call_ownership.h"

#include <atomic>

#include "memory/heap.h"
#include "memory/mapped_pages.h"
#include "sync/spin_lock.h"

namespace delos::memory {

namespace {

constexpr std::size_t kMaxOpenCalls = 32;

// One lock for every open ledger: charges come from one task each, but frees and unmaps of a
// charged object can come from any task on any CPU (a freed object is forgotten wherever it goes).
SpinLock g_lock;
CallLedger* g_open[kMaxOpenCalls] = {};
std::atomic<std::size_t> g_open_count{0};

bool any_open() { return g_open_count.load(std::memory_order_acquire) != 0; }

// With g_lock held. Compares addresses only: a ledger is read under the lock only once it is
// known to be registered (registered ledgers are live: their owner unregisters them before it
// goes). A CallOwnership reached through a corrupted pointer (its caller's frame or register hit
// by a fault) then faults, if at all, outside the lock, where the fault is the caller's own.
bool is_registered(const CallLedger* ledger)
{
    if (ledger == nullptr)  // a null `this` would match every free slot
        return false;
    for (const CallLedger* slot : g_open) {
        if (slot == ledger)
            return true;
    }
    return false;
}

// With g_lock held.
CallLedger* ledger_charging(std::uint64_t task, std::uint64_t caller)
{
    for (CallLedger* ledger : g_open) {
        if (ledger && ledger->charges(task, caller))
            return ledger;
    }
    return nullptr;
}

void unregister(CallLedger* ledger)
{
    for (CallLedger*& slot : g_open) {
        if (slot == ledger) {
            slot = nullptr;
            g_open_count.fetch_sub(1, std::memory_order_acq_rel);
            return;
        }
    }
}

} // namespace

CallOwnership::~CallOwnership() { (void)close(); }

ErrorOr<void> CallOwnership::open(std::uint64_t code_start, std::uint64_t code_size)
{
    CallLedger::CodeRange range{code_start, code_size};
    return open(&range, 1);
}

ErrorOr<void> CallOwnership::open(const CallLedger::CodeRange* ranges, std::size_t count)
{
    (void)close();
    // Filled before it is registered (nobody else reads it until then), so that with the lock
    // held only the registry is written: not this object, not even the return value (see
    // is_registered; a fault there would leave the lock taken and could not be contained).
    m_ledger.open(heap_current_owner(), ranges, count);
    bool registered = false;
    {
        SpinLockGuard guard(g_lock);
        for (CallLedger*& slot : g_open) {
            if (!slot) {
                slot = &m_ledger;
                g_open_count.fetch_add(1, std::memory_order_acq_rel);
                registered = true;
                break;
            }
        }
    }
    if (!registered) {
        m_ledger = CallLedger();
        return Error::make(ErrorCode::OutOfMemory, "CallOwnership: too many calls open");
    }
    return {};
}

bool CallOwnership::is_open() const
{
    SpinLockGuard guard(g_lock);
    return is_registered(&m_ledger);
}

bool CallOwnership::hand_out(SharedMappedPages& pages)
{
    // The caller's reply is read before the lock, and never through: nothing of the caller's is
    // dereferenced with the lock held (a fault there could not be contained), and a handle whose
    // block this call did not share (a wild reply) is dropped untouched.
    if (!pages.valid())
        return true;
    const void* block = pages.block_identity();
    bool handed_out = true;
    {
        SpinLockGuard guard(g_lock);
        if (is_registered(&m_ledger)) {
            // A recorded block is the kernel's (into_shared allocated it), so it is read: it must
            // still hold the run as recorded. A mismatch stays recorded: close() releases it by the record.
            const CallLedger::PageRun* run = m_ledger.run_shared_into(block);
            handed_out = run != nullptr && SharedMappedPages::block_holds(block, run->start, run->size)
                         && m_ledger.hand_out_block(block);
        }
    }
    if (!handed_out)
        pages.forget_unchecked();
    return handed_out;
}

CallRelease CallOwnership::close()
{
    static_assert(sizeof(CallLedger::Leftovers) < 2048, "Leftovers lives on the closing task's stack");
    CallLedger::Leftovers leftovers;
    bool was_open = false;
    {
        // Closed (or never opened), or `this` is not a CallOwnership at all: nothing is read or
        // written under the lock but the registry (the return value neither: it is the caller's).
        SpinLockGuard guard(g_lock);
        if (is_registered(&m_ledger)) {
            unregister(&m_ledger);
            m_ledger.close(leftovers);
            was_open = true;
        }
    }
    CallRelease released;
    if (!was_open)
        return released;
    // Released outside the lock: freeing tells the (now closed) ledger nothing, unmapping neither.
    released.untracked = leftovers.untracked;
    for (std::size_t i = 0; i < leftovers.object_count; ++i) {
        void* object = leftovers.objects[i];
        if (!heap_is_live_call_owned(object)) {
            ++released.refused;
            continue;
        }
        released.bytes += heap_allocation_size(object);
        heap_mark_call_owned(object, false);
        heap_free(object);
        ++released.objects;
    }
    for (std::size_t i = 0; i < leftovers.run_count; ++i) {
        const CallLedger::PageRun& run = leftovers.runs[i];
        if (run.shared_block)
            SharedMappedPages::drop_leftover_block(run.shared_block, run.start, run.size, run.owner);
        else
            MappedPages::release_leftover_run(run.start, run.size, run.owner);
        ++released.page_runs;
    }
    return released;
}

std::size_t CallOwnership::open_count() { return g_open_count.load(std::memory_order_acquire); }

std::size_t follow_moved_cell_code(std::uint64_t old_start, std::uint64_t old_size, std::uint64_t new_start, std::uint64_t new_size)
{
    if (!any_open() || old_size == 0)
        return 0;
    std::size_t following = 0;
    SpinLockGuard guard(g_lock);
    for (CallLedger* ledger : g_open) {
        if (ledger && ledger->follow_moved_code(old_start, old_size, CallLedger::CodeRange{new_start, new_size}))
            ++following;
    }
    return following;
}

std::uint64_t open_call_target_code(std::uint64_t task)
{
    if (!any_open())
        return 0;
    SpinLockGuard guard(g_lock);
    for (const CallLedger* ledger : g_open) {
        if (std::uint64_t code = ledger ? ledger->called_code_of(task) : 0)
            return code;
    }
    return 0;
}

bool open_call_charges_code(std::uint64_t task, std::uint64_t address)
{
    if (!any_open())
        return false;
    SpinLockGuard guard(g_lock);
    return ledger_charging(task, address) != nullptr;
}

void charge_object_to_call(void* object, const void* caller)
{
    if (!object || !any_open())
        return;
    std::uint64_t task = heap_current_owner();
    SpinLockGuard guard(g_lock);
    CallLedger* ledger = ledger_charging(task, reinterpret_cast<std::uint64_t>(caller));
    if (ledger && ledger->add_object(object))
        heap_mark_call_owned(object, true);
}

void charge_returned_object(const void* object, const void* caller)
{
    if (!object || !any_open())
        return;
    (void)heap_allocation_size(object);
    charge_object_to_call(const_cast<void*>(object), caller);
}

void forget_call_owned_object(void* object)
{
    if (!any_open())
        return;
    SpinLockGuard guard(g_lock);
    for (CallLedger* ledger : g_open) {
        if (ledger && ledger->remove_object(object))
            return;
    }
}

void charge_page_run_to_call(std::uint64_t start, std::uint64_t size, std::uint64_t owner, const void* caller)
{
    if (!any_open())
        return;
    std::uint64_t task = heap_current_owner();
    SpinLockGuard guard(g_lock);
    if (CallLedger* ledger = ledger_charging(task, reinterpret_cast<std::uint64_t>(caller)))
        ledger->add_run(start, size, owner);
}

RunRelease settle_released_page_run(std::uint64_t start, const void* caller, CallLedger::PageRun& recorded)
{
    if (!any_open())
        return RunRelease::NotRecorded;
    std::uint64_t task = heap_current_owner();
    SpinLockGuard guard(g_lock);
    if (CallLedger* calling = ledger_charging(task, reinterpret_cast<std::uint64_t>(caller))) {
        const CallLedger::PageRun* run = calling->run_at(start);
        if (run && !run->shared_block && calling->take_run(start, recorded))
            return RunRelease::Recorded;
        // A shared run goes with its block (the kernel's reset releases it, not the cell's code).
        return run || calling->untracked() == 0 ? RunRelease::Foreign : RunRelease::NotRecorded;
    }
    for (CallLedger* ledger : g_open) {
        if (ledger && ledger->take_run(start, recorded))
            return RunRelease::Recorded;
    }
    return RunRelease::NotRecorded;
}

void share_call_owned_page_run(std::uint64_t start, void* block)
{
    if (!any_open())
        return;
    SpinLockGuard guard(g_lock);
    for (CallLedger* ledger : g_open) {
        if (ledger && ledger->share_run(start, block))
            return;
    }
}

} // namespace delos::memory
