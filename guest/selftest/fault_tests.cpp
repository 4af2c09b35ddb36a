// fault_tests.cpp: in-guest tests of fault containment: a task holding RAII objects (a heap
// object, MappedPages, a held task::Mutex, a captured OwnPtr, a channel sender, a task-local
// value) faults with a null write, #UD or a
// divide error inside a frame that owns some of them; it is unwound, every destructor runs
// (including the faulting frame's), it ends Faulted with the fault in its outcome, frames and heap
// return to their baseline, and the system keeps running (the mutex is free for the next task).
#include <atomic>

#include "debug/kernel_symbols.h"
#include "log/kernel_log.h"
#include "lib/core/own_ptr.h"
#include "lib/core/string.h"
#include "linker/kernel/cell_manager.h"
#include "memory/call_ownership.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/mapped_pages.h"
#include "memory/page_table.h"
#include "runtime/cell_call_gate.h"
#include "runtime/frame_tables.h"
#include "selftest/selftest.h"
#include "recovery/fault_containment.h"
#include "recovery/fault_log.h"
#include "recovery_policy/cell_records.h"
#include "task/channel.h"
#include "task/lock_waits.h"
#include "task/semaphore.h"
#include "task/mutex.h"
#include "task/task_local.h"
#include "task/spawn.h"
#include "task/stack_cache.h"
#include "task/watchdog.h"
#include "arch/x86_64/tsc.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/interrupts.h"
#include "sync/spin_lock.h"

extern "C" const unsigned char delos_selftest_init_faults_start[];
extern "C" const unsigned char delos_selftest_init_faults_end[];
// The runtime's own (runtime/memory_functions.cpp), called through pointers: not the builtins.
extern "C" void* memcpy(void*, const void*, std::size_t);
extern "C" void* memset(void*, int, std::size_t);
extern "C" const unsigned char delos_selftest_runaway_start[];
extern "C" const unsigned char delos_selftest_runaway_end[];

namespace delos::selftest {

namespace {

using namespace task;

enum class FaultKind { NullWrite, InvalidOpcode, DivideByZero, Breakpoint };

std::atomic<int> g_destroyed{0};
std::atomic<int> g_reached_after_fault{0};
Mutex g_fault_test_mutex;
volatile std::uint64_t g_null_address = 0;  // read at run time: the compiler cannot see the null
volatile int g_zero = 0;

// #UD and #BP from leaf functions with CFI: GCC gives an inline asm statement no landing pad
// (its call-site entry has none even with live objects), so the trapping instruction sits in a
// called function and the caller's landing pad runs the owned objects' destructors.
extern "C" void delos_selftest_invalid_opcode();
extern "C" void delos_selftest_breakpoint();
asm(R"(
    .section .text.delos_selftest_invalid_opcode, "ax"
    .global delos_selftest_invalid_opcode
    .type delos_selftest_invalid_opcode, @function
delos_selftest_invalid_opcode:
    .cfi_startproc
    ud2
    ret
    .cfi_endproc
    .size delos_selftest_invalid_opcode, . - delos_selftest_invalid_opcode
    .global delos_selftest_breakpoint
    .type delos_selftest_breakpoint, @function
delos_selftest_breakpoint:
    .cfi_startproc
    int3
    ret
    .cfi_endproc
    .size delos_selftest_breakpoint, . - delos_selftest_breakpoint
    .text
)");

struct Tracked {
    int id;
    explicit Tracked(int value) : id(value) {}
    ~Tracked() { g_destroyed.fetch_add(1); }
};

struct LocalValue {
    ~LocalValue() { g_destroyed.fetch_add(1); }
};
TaskLocal<LocalValue> g_task_local_value;

struct Blob {
    std::uint64_t words[64] = {};
    Tracked tracked{3};
};

// Owns a heap object, pages and the mutex when it faults, in its own frame.
[[gnu::noinline]] int hold_and_fault(FaultKind kind)
{
    Tracked local(1);
    auto blob = make_own<Blob>();
    auto pages = memory::MappedPages::allocate(2);
    if (pages.is_error())
        return -1;
    MutexGuard guard(g_fault_test_mutex);
    pages.value().as<std::uint64_t>()[0] = 5;
    blob->words[0] = static_cast<std::uint64_t>(local.id);
    int result = 0;
    switch (kind) {
    case FaultKind::NullWrite: *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = 1; break;
    case FaultKind::InvalidOpcode: delos_selftest_invalid_opcode(); break;
    case FaultKind::DivideByZero: result = 7 / g_zero; break;
    case FaultKind::Breakpoint: delos_selftest_breakpoint(); break;
    }
    g_reached_after_fault.fetch_add(1);
    return result + static_cast<int>(blob->words[0] + pages.value().as<std::uint64_t>()[0]) + local.id;
}

[[gnu::noinline]] int outer_frame(FaultKind kind)
{
    Tracked outer(2);
    return hold_and_fault(kind) + outer.id;
}

bool contains(StringView text, StringView part)
{
    for (std::size_t i = 0; i + part.size() <= text.size(); ++i)
        if (text.substr(i).starts_with(part))
            return true;
    return false;
}

// The newest fault-log entry is this fault, its location named by `owner`.
ErrorOr<void> check_logged(const TaskFault& fault, StringView symbol, StringView owner)
{
    FaultLogEntry entries[1];
    std::size_t count = copy_recent_faults(entries, 1);
    SELFTEST_CHECK(count >= 1);
    const FaultLogEntry& newest = entries[count - 1];
    SELFTEST_CHECK(newest.sequence == fault.sequence);
    SELFTEST_CHECK(newest.vector == fault.vector && newest.instruction_pointer == fault.instruction_pointer);
    SELFTEST_CHECK(contains(StringView(newest.location), symbol));
    SELFTEST_CHECK(contains(StringView(newest.location), owner));
    // The structured copy the control agent's FaultReport is made of.
    SELFTEST_CHECK(newest.at.address == fault.instruction_pointer);
    SELFTEST_CHECK(contains(StringView(newest.at.symbol), symbol));
    SELFTEST_CHECK(newest.backtrace_frames >= 2 && newest.backtrace[0].address == fault.instruction_pointer);
    return {};
}

std::uint64_t frames_not_held_by_anyone_else()
{
    return memory::frame_allocator().free_frames() + memory::heap_statistics().pages_held +
           memory::kernel_page_table().table_frames();
}

ErrorOr<void> unwind_after(FaultKind kind, std::uint64_t vector)
{
    auto channel = SELFTEST_TRY(make_channel<int>(4));  // before the baseline: the receiver stays
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t mapped_before = memory::mapped_pages_frames_in_use();
    std::uint64_t contained_before = fault_containment_statistics().contained;
    g_destroyed = 0;
    g_reached_after_fault = 0;
    {
        auto handle = SELFTEST_TRY(spawn("faulter", [kind, captured = make_own<Tracked>(4),
                                                     sender = std::move(channel.sender)]() mutable {
            Sender<int> held_sender = std::move(sender);  // a channel endpoint owned by an unwound frame
            (void)held_sender.send(1);
            (void)g_task_local_value.get();               // a task-local value
            return outer_frame(kind) + captured->id;
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(!outcome.returned());
        SELFTEST_CHECK(outcome.fault().vector == vector);
        SELFTEST_CHECK(outcome.fault().sequence == contained_before + 1);
        SELFTEST_CHECK(outcome.fault().landing_pads >= 2);  // hold_and_fault's and outer_frame's
        // The faulting function (and for #UD/#BP the leaf below it), outer_frame, the closure's
        // invoker, delos_task_entry and the trampoline.
        SELFTEST_CHECK(outcome.fault().frames == ((kind == FaultKind::InvalidOpcode || kind == FaultKind::Breakpoint) ? 6u : 5u));
        if (kind == FaultKind::NullWrite)
            SELFTEST_CHECK(outcome.fault().fault_address == 0);
        if (kind == FaultKind::NullWrite || kind == FaultKind::DivideByZero)
            TRY(check_logged(outcome.fault(), "hold_and_fault", "(kernel)"));
        SELFTEST_CHECK(outcome.ownership_at_end().frames == 0);
        SELFTEST_CHECK(outcome.ownership_at_end().heap_bytes == 0);
    }
    SELFTEST_CHECK(g_reached_after_fault == 0);
    // local, outer, the Blob's member, the closure's capture and the task-local value: every
    // destructor ran; the sender went too (the receiver drains, then hears that it is gone).
    SELFTEST_CHECK(g_destroyed == 5);
    auto first = channel.receiver.receive();
    SELFTEST_CHECK(!first.is_error() && first.value() == 1);
    SELFTEST_CHECK(channel.receiver.receive().is_error());
    SELFTEST_CHECK(!g_fault_test_mutex.is_locked());
    SELFTEST_CHECK(fault_containment_statistics().contained == contained_before + 1);
    stack_cache::release_all();
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before);
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);

    // The system runs on: another task takes the mutex the faulted one held, and returns.
    auto next = SELFTEST_TRY(spawn("after-fault", [] {
        MutexGuard guard(g_fault_test_mutex);
        return 42;
    }));
    auto after = next.join();
    SELFTEST_CHECK(after.returned() && after.value() == 42);
    return {};
}

ErrorOr<void> null_write_is_unwound() { return unwind_after(FaultKind::NullWrite, 14); }
ErrorOr<void> invalid_opcode_is_unwound() { return unwind_after(FaultKind::InvalidOpcode, 6); }
ErrorOr<void> divide_error_is_unwound() { return unwind_after(FaultKind::DivideByZero, 0); }
ErrorOr<void> breakpoint_is_unwound() { return unwind_after(FaultKind::Breakpoint, 3); }

// A pointer the heap never handed out, freed by a task (as a corrupted pointer is): the task's
// fault (#UD), unwound with its own objects released, not a panic of the whole guest.
alignas(16) std::uint64_t g_not_from_the_heap[8] = {};

[[gnu::noinline]] void free_a_foreign_pointer()
{
    Tracked local(5);
    auto blob = make_own<Blob>();
    memory::heap_free(&g_not_from_the_heap[4]);
    g_reached_after_fault.fetch_add(1);
}

ErrorOr<void> foreign_pointer_freed_is_a_task_fault()
{
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t allocations_before = memory::heap_statistics().allocations_in_use;
    g_destroyed = 0;
    g_reached_after_fault = 0;
    {
        auto handle = SELFTEST_TRY(spawn("foreign-free", [] { free_a_foreign_pointer(); }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 6);
    }
    SELFTEST_CHECK(g_reached_after_fault == 0);
    SELFTEST_CHECK(g_destroyed == 2);  // local and the Blob's member: the frame's objects were released
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(memory::heap_statistics().allocations_in_use == allocations_before);
    return {};
}

// A memset whose length a fault left wrong (the campaign's skipped instruction in a cell's
// inlined String code) from a task: refused before it writes anything past its heap block, so
// the neighbouring objects and the heap's free lists are untouched; the task is unwound.
// Then the same for memcpy, and a large (page) block whose end a copy would run past.
volatile std::size_t g_wild_length = 40000;

struct Neighbours {
    std::uint8_t* first;
    std::uint8_t* second;
};

// (No objects in this frame: memset and memcpy are builtins the compiler knows cannot throw, so
// a frame has no landing pad at such a call and the unwind resumes above it, as for heap_free.)
[[gnu::noinline]] void write_past_a_heap_block(Neighbours blocks, int kind)
{
    if (kind == 0)
        __builtin_memset(blocks.first, 0xaa, g_wild_length);
    else
        __builtin_memcpy(blocks.first, blocks.second, g_wild_length);
    g_reached_after_fault.fetch_add(1);
}

ErrorOr<void> heap_overflow_is_a_task_fault()
{
    for (int kind = 0; kind < 3; ++kind) {
        std::size_t size = kind == 2 ? 3 * 4096 : 40;
        auto* first = new std::uint8_t[size];
        auto* second = new std::uint8_t[size];
        for (std::size_t i = 0; i < size; ++i)
            first[i] = second[i] = 0x5c;
        g_reached_after_fault = 0;
        {
            Neighbours blocks{first, second};
            auto handle = SELFTEST_TRY(spawn("heap-overflow", [blocks, kind] { write_past_a_heap_block(blocks, kind == 2 ? 1 : kind); }));
            auto outcome = handle.join();
            SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
            SELFTEST_CHECK(outcome.fault().vector == 6);
        }
        SELFTEST_CHECK(g_reached_after_fault == 0);
        bool untouched = true;
        for (std::size_t i = 0; i < size; ++i)
            untouched = untouched && first[i] == 0x5c && second[i] == 0x5c;
        SELFTEST_CHECK(untouched);
        // A write that fits its block is still done.
        __builtin_memset(first, 0x11, size);
        SELFTEST_CHECK(first[size - 1] == 0x11 && second[0] == 0x5c);
        delete[] first;
        delete[] second;
    }
    return {};
}

// A cell that left garbage in its flags (a corrupted `popf`: DF, AC and NT set) costs only
// its task: the kernel's copies run forwards whatever the direction flag says, and the unwind of a
// fault resumes with only IF kept of the task's flags. Before, the unwinder's copies ran backwards
// over the heap below their destinations, and the guest died printing garbage.
void* (*volatile g_memcpy)(void*, const void*, std::size_t) = memcpy;
void* (*volatile g_memset)(void*, int, std::size_t) = memset;
std::uint8_t g_flag_source[256];
std::uint8_t g_flag_destination[256 + 64];

[[gnu::noinline]] void copy_with_the_direction_flag_set()
{
    asm volatile("std" ::: "cc");
    g_memcpy(g_flag_destination + 32, g_flag_source, sizeof g_flag_source);
    asm volatile("std" ::: "cc");
    g_memset(g_flag_destination + 32 + 200, 0x77, 8);
    asm volatile("cld" ::: "cc");
}

[[gnu::noinline]] void fault_with_garbage_flags()
{
    Tracked local(11);
    auto blob = make_own<Blob>();
    // IF, DF, AC, NT and OF: what the campaign's corrupted popf set (its flags were 0x244e12).
    asm volatile("pushq %0\n\tpopfq" ::"r"(std::uint64_t(0x44e12 | 0x200)) : "cc", "memory");
    *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = 1;
    g_reached_after_fault.fetch_add(1);
}

ErrorOr<void> garbage_flags_in_a_task_cost_only_that_task()
{
    for (std::size_t i = 0; i < sizeof g_flag_source; ++i)
        g_flag_source[i] = static_cast<std::uint8_t>(i + 1);
    for (auto& byte : g_flag_destination)
        byte = 0xee;
    {
        auto handle = SELFTEST_TRY(spawn("backwards-copy", [] { copy_with_the_direction_flag_set(); }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
    }
    bool copied = true;
    for (std::size_t i = 0; i < sizeof g_flag_destination; ++i) {
        std::uint8_t expected = i < 32 || i >= 32 + 256 ? 0xee : i >= 232 && i < 240 ? 0x77 : static_cast<std::uint8_t>(i - 32 + 1);
        copied = copied && g_flag_destination[i] == expected;
    }
    SELFTEST_CHECK(copied);

    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t allocations_before = memory::heap_statistics().allocations_in_use;
    g_destroyed = 0;
    g_reached_after_fault = 0;
    {
        auto handle = SELFTEST_TRY(spawn("garbage-flags", [] { fault_with_garbage_flags(); }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 14);
    }
    SELFTEST_CHECK(g_reached_after_fault == 0);
    SELFTEST_CHECK(g_destroyed == 2);  // `local` and the Blob's member
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(memory::heap_statistics().allocations_in_use == allocations_before);
    return {};
}

// An allocation larger than all memory (as a corrupted size asks for) by a task: the task's
// fault, unwound with its objects released, not a panic of the guest.
volatile std::size_t g_impossible_size = std::size_t(1) << 44;

[[gnu::noinline]] void allocate_the_impossible()
{
    Tracked local(6);
    auto blob = make_own<Blob>();
    auto* huge = new std::uint8_t[g_impossible_size];
    huge[0] = 1;
    g_reached_after_fault.fetch_add(1);
    delete[] huge;
}

ErrorOr<void> impossible_allocation_is_a_task_fault()
{
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t allocations_before = memory::heap_statistics().allocations_in_use;
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    g_destroyed = 0;
    g_reached_after_fault = 0;
    {
        auto handle = SELFTEST_TRY(spawn("impossible-new", [] { allocate_the_impossible(); }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 6);
    }
    SELFTEST_CHECK(g_reached_after_fault == 0);
    SELFTEST_CHECK(g_destroyed == 2);
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(memory::heap_statistics().allocations_in_use == allocations_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    return {};
}

// Call ownership (memory/call_ownership.h): a "cell" call that allocates heap objects and maps
// pages from its own code, loses every handle to them (as a skipped destructor or an unwind that
// skipped its frame would) and then faults or returns. Closing the call's ledger releases them:
// heap and frames are back where they were. The handed-out pages stay the caller's.
enum class LeakyEnd { Fault, Return };
memory::SharedMappedPages* volatile g_lost_shared = nullptr;

[[gnu::noinline]] void leaky_call(LeakyEnd end, memory::SharedMappedPages& handed_out)
{
    for (int i = 0; i < 3; ++i)
        (void)new Blob();  // lost on purpose
    auto kept = new Blob();
    delete kept;  // freed within the call: not the ledger's any more
    auto run = memory::MappedPages::allocate(2);
    if (!run.is_error())
        (void)new memory::MappedPages(std::move(run.value()));  // its handle lost
    auto shared_run = memory::MappedPages::allocate(1);
    if (!shared_run.is_error()) {
        auto shared = std::move(shared_run.value()).into_shared();
        if (!shared.is_error())
            g_lost_shared = new memory::SharedMappedPages(shared.release_value());  // a shared handle lost
    }
    auto reply_run = memory::MappedPages::allocate(1);
    if (!reply_run.is_error()) {
        auto reply = std::move(reply_run.value()).into_shared();
        if (!reply.is_error())
            handed_out = reply.release_value();
    }
    if (end == LeakyEnd::Fault)
        *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = 1;
}

ErrorOr<void> call_ownership_releases_what_a_call_left(LeakyEnd end)
{
    kernel_symbols::Symbol code;
    SELFTEST_CHECK(kernel_symbols::lookup(reinterpret_cast<std::uint64_t>(&leaky_call), code));
    std::uint64_t open_before = memory::CallOwnership::open_count();
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t allocations_before = memory::heap_statistics().allocations_in_use;
    std::uint64_t mapped_before = memory::mapped_pages_frames_in_use();
    memory::CallOwnership call;
    memory::SharedMappedPages handed_out;
    {
        auto handle = SELFTEST_TRY(spawn("leaky-call", [&call, &handed_out, code, end] {
            if (call.open(code.address, code.size).is_error())
                return;
            leaky_call(end, handed_out);
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == (end == LeakyEnd::Fault ? TaskEnd::Faulted : TaskEnd::Returned));
    }
    SELFTEST_CHECK(call.is_open());
    SELFTEST_CHECK(handed_out.valid());
    SELFTEST_CHECK(call.hand_out(handed_out));
    memory::CallRelease released = call.close();
    SELFTEST_CHECK(!call.is_open());
    SELFTEST_CHECK(memory::CallOwnership::open_count() == open_before);
    SELFTEST_CHECK(released.objects == 5);  // three Blobs, the lost MappedPages and SharedMappedPages handles
    SELFTEST_CHECK(released.page_runs == 2);  // the lost run and the lost shared run
    SELFTEST_CHECK(released.refused == 0 && released.untracked == 0);
    // The handed-out pages are still mapped and the caller's.
    SELFTEST_CHECK(handed_out.reference_count() == 1);
    handed_out.as<std::uint64_t>()[0] = 42;
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before + 1);
    handed_out.reset();
    SELFTEST_CHECK(call.close().total() == 0);  // closing twice releases nothing twice
    stack_cache::release_all();
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before);
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(memory::heap_statistics().allocations_in_use == allocations_before);
    return {};
}

ErrorOr<void> call_ownership_releases_what_a_faulted_call_left() { return call_ownership_releases_what_a_call_left(LeakyEnd::Fault); }
ErrorOr<void> call_ownership_releases_what_a_returned_call_left() { return call_ownership_releases_what_a_call_left(LeakyEnd::Return); }

// A call's reply naming pages the call did not share (the fault campaign's pages target with a
// skipped store: a stale handle of an earlier reply, a return address, random bits in the
// handle): hand_out drops the handle without reading through it — before, the caller's copy or
// reset of the reply incremented or decremented a "reference count" there, in the cell's text
// (a fault of the caller) or in a freed block (frames released twice). The call's own run is
// released by close().
memory::SharedMappedPages* volatile g_earlier_reply = nullptr;

[[gnu::noinline]] void call_replying_with(std::uint64_t forged_block, memory::SharedMappedPages& reply)
{
    auto run = memory::MappedPages::allocate(1);
    if (run.is_error())
        return;
    auto shared = std::move(run.value()).into_shared();
    if (shared.is_error())
        return;
    g_lost_shared = new memory::SharedMappedPages(shared.release_value());  // the real handle, lost
    if (forged_block == 0)  // a stale word naming a live block, but not this call's
        __builtin_memcpy(static_cast<void*>(&reply), static_cast<const void*>(g_earlier_reply), sizeof reply);
    else  // what a corrupted store leaves
        __builtin_memcpy(static_cast<void*>(&reply), &forged_block, sizeof forged_block);
}

ErrorOr<void> call_ownership_refuses_a_reply_the_call_did_not_map()
{
    kernel_symbols::Symbol code;
    SELFTEST_CHECK(kernel_symbols::lookup(reinterpret_cast<std::uint64_t>(&call_replying_with), code));
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t mapped_before = memory::mapped_pages_frames_in_use();
    auto earlier_run = SELFTEST_TRY(memory::MappedPages::allocate(1));
    auto earlier = SELFTEST_TRY(std::move(earlier_run).into_shared());
    g_earlier_reply = &earlier;
    // Not mapped, in the cell's text (read-only), a live block of another owner.
    const std::uint64_t forged[] = {0x0100000000000000ull, code.address, 0};
    for (std::uint64_t block : forged) {
        memory::CallOwnership call;
        memory::SharedMappedPages reply;
        auto handle = SELFTEST_TRY(spawn("forging-call", [&call, &reply, code, block] {
            if (call.open(code.address, code.size).is_error())
                return;
            call_replying_with(block, reply);
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
        SELFTEST_CHECK(reply.valid());
        SELFTEST_CHECK(!call.hand_out(reply));
        SELFTEST_CHECK(!reply.valid());  // dropped untouched: its destructor does nothing
        memory::CallRelease released = call.close();
        SELFTEST_CHECK(released.page_runs == 1 && released.objects == 1);  // the call's run and its lost handle
    }
    SELFTEST_CHECK(earlier.reference_count() == 1);  // the stale word was not counted down
    SELFTEST_CHECK(earlier.as<std::uint64_t>()[0] == 0);  // and its pages are still mapped
    g_earlier_reply = nullptr;
    earlier.reset();
    stack_cache::release_all();
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before);
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    return {};
}

// Page runs by the call's record: a call whose run's size is corrupted before into_shared (a
// fault campaign stack word) must not free other owners' frames by that size. hand_out refuses
// the block (its extent is not the run the call mapped) and close() releases exactly the recorded
// run; a call's own code releasing a run it did not map (a wild `this`) is its task's fault.
// With `start` true, the run's start is corrupted instead (bit 21 flipped, as a campaign bit flip
// did): the block names a run no call recorded, so the block itself is charged to the call as an
// object, and close() frees it (its extent untouched) when the reply is refused.
[[gnu::noinline]] void call_corrupting_its_run(memory::SharedMappedPages& reply, bool start)
{
    auto run = memory::MappedPages::allocate(2);
    if (run.is_error())
        return;
    // MappedPages holds its PhysicalRange first: start, then size.
    if (start)
        reinterpret_cast<volatile std::uint64_t*>(&run.value())[0] ^= std::uint64_t(1) << 21;
    else
        reinterpret_cast<volatile std::uint64_t*>(&run.value())[1] = std::uint64_t(1000) * memory::kPageSize;
    auto shared = std::move(run.value()).into_shared();
    if (!shared.is_error())
        reply = shared.release_value();
}

[[gnu::noinline]] void call_releasing_a_run_it_did_not_map(memory::MappedPages& not_its_own)
{
    Tracked local(9);
    not_its_own.release();
    g_reached_after_fault.fetch_add(1);
}

// An `int n` through a vector nobody handles, in a task's code (a corrupted cell looped on one,
// each only logged as a spurious interrupt): the task's #GP, as ring 3 would get from a ring-0
// gate, at the int instruction, and unwound.
[[gnu::noinline]] void software_interrupt() { asm volatile("int $0xa1" ::: "memory"); }

// The object's frame calls the int's: a call site has its cleanup (an asm statement has none).
[[gnu::noinline]] void software_interrupt_with_an_object()
{
    Tracked held(12);
    software_interrupt();
    g_reached_after_fault.fetch_add(1);
}

ErrorOr<void> an_int_instruction_is_a_task_fault()
{
    g_destroyed = 0;
    g_reached_after_fault = 0;
    std::uint64_t spurious_before = arch::spurious_interrupt_count();
    {
        auto handle = SELFTEST_TRY(spawn("int-0xa1", [] { software_interrupt_with_an_object(); }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 13 && outcome.fault().error_code == ((0xa1u << 3) | 2));
    }
    SELFTEST_CHECK(g_reached_after_fault == 0 && g_destroyed == 1);
    SELFTEST_CHECK(arch::spurious_interrupt_count() == spurious_before + 1);  // counted before it is told apart
    return {};
}

// A service (here: a kernel function outside the call's code) returns a heap object to a caller
// inside an open call: charged to that call when the service names the caller's code, so the
// call's close() releases it if the caller lost it (as a fault that skipped its destructor does);
// not charged when the caller is not code the call charges, nor when no call is open.
[[gnu::noinline]] std::uint8_t* service_returning_a_copy(const void* caller)
{
    auto* copy = new std::uint8_t[24]{};
    memory::charge_returned_object(copy, caller);
    return copy;
}

std::uint8_t* g_returned_copy = nullptr;

// Names its own code as the caller (a cell's service would take its return address) and keeps the
// copy only where the test can find it, never freeing it.
[[gnu::noinline]] void caller_losing_what_it_got()
{
    g_returned_copy = service_returning_a_copy(reinterpret_cast<const void*>(&caller_losing_what_it_got));
}

ErrorOr<void> a_returned_object_is_charged_to_the_callers_call()
{
    kernel_symbols::Symbol caller;
    SELFTEST_CHECK(kernel_symbols::lookup(reinterpret_cast<std::uint64_t>(&caller_losing_what_it_got), caller));
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t allocations_before = memory::heap_statistics().allocations_in_use;
    for (bool charged_code : {true, false}) {
        memory::CallOwnership call;
        std::uint64_t start = charged_code ? caller.address : caller.address + caller.size;
        auto handle = SELFTEST_TRY(spawn("returned-copy", [&call, start, caller] {
            if (call.open(start, caller.size).is_error())
                return;
            caller_losing_what_it_got();
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
        memory::CallRelease released = call.close();
        SELFTEST_CHECK(released.objects == (charged_code ? 1u : 0u));
        if (!charged_code)
            delete[] g_returned_copy;  // not the call's: still allocated after close()
        g_returned_copy = nullptr;
        stack_cache::release_all();
        SELFTEST_CHECK(memory::heap_statistics().allocations_in_use == allocations_before);
        SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    }
    // No call open: nothing is charged, nothing recorded.
    delete[] service_returning_a_copy(reinterpret_cast<const void*>(&caller_losing_what_it_got));
    SELFTEST_CHECK(memory::CallOwnership::open_count() == 0);
    return {};
}

ErrorOr<void> call_ownership_releases_runs_by_its_record()
{
    kernel_symbols::Symbol corrupting, releasing;
    SELFTEST_CHECK(kernel_symbols::lookup(reinterpret_cast<std::uint64_t>(&call_corrupting_its_run), corrupting));
    SELFTEST_CHECK(kernel_symbols::lookup(reinterpret_cast<std::uint64_t>(&call_releasing_a_run_it_did_not_map), releasing));
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t mapped_before = memory::mapped_pages_frames_in_use();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    for (bool start : {false, true}) {
        memory::CallOwnership call;
        memory::SharedMappedPages reply;
        auto handle = SELFTEST_TRY(spawn("corrupting-call", [&call, &reply, corrupting, start] {
            if (call.open(corrupting.address, corrupting.size).is_error())
                return;
            call_corrupting_its_run(reply, start);
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
        SELFTEST_CHECK(reply.valid() && (start || reply.size() == 1000 * memory::kPageSize));
        SELFTEST_CHECK(!call.hand_out(reply));  // not the extent the call mapped
        SELFTEST_CHECK(!reply.valid());
        memory::CallRelease released = call.close();
        SELFTEST_CHECK(released.page_runs == 1 && released.objects == (start ? 1u : 0u));
        SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);  // no block left either way
    }
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before);
    {
        auto not_its_own = SELFTEST_TRY(memory::MappedPages::allocate(1));
        not_its_own.as<std::uint64_t>()[0] = 7;
        g_destroyed = 0;
        g_reached_after_fault = 0;
        memory::CallOwnership call;
        auto handle = SELFTEST_TRY(spawn("wild-release", [&call, &not_its_own, releasing] {
            if (call.open(releasing.address, releasing.size).is_error())
                return;
            call_releasing_a_run_it_did_not_map(not_its_own);
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted && outcome.fault().vector == 6);
        SELFTEST_CHECK(g_reached_after_fault == 0 && g_destroyed == 1);
        SELFTEST_CHECK(call.close().total() == 0);
        SELFTEST_CHECK(not_its_own.valid() && not_its_own.as<std::uint64_t>()[0] == 7);  // still mapped
        SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before + 1);
    }
    stack_cache::release_all();
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    return {};
}

// A call open while its cell is reloaded (the fault campaign's supervisor or the recovery policy
// reloading the target while a worker's call was opened on the old copy): the ledger follows the
// code to the new copy, so what the new copy allocates in the call is still the call's.
ErrorOr<void> call_ownership_follows_a_reloaded_cell()
{
    constexpr std::uint64_t kOldCode = 0x7f0000000000ull, kNewCode = 0x7f0000100000ull, kSize = 0x4000;
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    memory::CallOwnership call;
    SELFTEST_CHECK(!call.open(kOldCode, kSize).is_error());
    SELFTEST_CHECK(memory::follow_moved_cell_code(0x7f0000200000ull, kSize, 0x7f0000300000ull, kSize) == 0);
    SELFTEST_CHECK(memory::follow_moved_cell_code(kOldCode, kSize, kNewCode, kSize) == 1);
    void* from_the_new_copy = memory::heap_allocate(48, 16);
    SELFTEST_CHECK(from_the_new_copy != nullptr);
    memory::charge_object_to_call(from_the_new_copy, reinterpret_cast<const void*>(kNewCode + 0x40));
    memory::CallRelease released = call.close();
    SELFTEST_CHECK(released.objects == 1 && released.refused == 0);
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    return {};
}

// The cell call gate (runtime/cell_call_gate.h). A probe records the callee-saved registers and
// the stack below it that it was given, then breaks the ABI (returns with all six changed): the
// caller gets its own back, the probe saw only the poison and zeroes. A callee that writes
// through a frame pointer it never set faults (#SS/#GP on the non-canonical poison) instead of
// writing into its caller's frame, and is unwound through the gate.
extern "C" void delos_selftest_gate_probe();
extern "C" void delos_selftest_unset_frame_pointer();
// Overwrites the eight words above its return address (the gate's stack copies of the function,
// r15-r12, rbx, rbp and the gate's own return address), as a corrupted callee could.
extern "C" void delos_selftest_gate_clobber();
// Returns with the stack pointer 8 bytes below where its call left it (an unbalanced callee).
extern "C" void delos_selftest_gate_unbalanced();
extern "C" const void* delos_selftest_gate_callee;
const void* delos_selftest_gate_callee = reinterpret_cast<const void*>(&delos_selftest_gate_probe);
extern "C" std::uint64_t delos_selftest_gate_seen[8];
extern "C" std::uint64_t delos_selftest_gate_after[5];
std::uint64_t delos_selftest_gate_seen[8];
std::uint64_t delos_selftest_gate_after[5];
asm(R"(
    .section .text.delos_selftest_gate_probe, "ax"
    .global delos_selftest_gate_probe
    .type delos_selftest_gate_probe, @function
delos_selftest_gate_probe:
    .cfi_startproc
    movq %rbx, delos_selftest_gate_seen+0(%rip)
    movq %rbp, delos_selftest_gate_seen+8(%rip)
    movq %r12, delos_selftest_gate_seen+16(%rip)
    movq %r13, delos_selftest_gate_seen+24(%rip)
    movq %r14, delos_selftest_gate_seen+32(%rip)
    movq %r15, delos_selftest_gate_seen+40(%rip)
    xorl %eax, %eax
    leaq -1024(%rsp), %rsi
1:
    orq (%rsi), %rax
    addq $8, %rsi
    cmpq %rsp, %rsi
    jb 1b
    movq %rax, delos_selftest_gate_seen+48(%rip)
    movabsq $0x2222222222222222, %rbx
    movq %rbx, %rbp
    movq %rbx, %r12
    movq %rbx, %r13
    movq %rbx, %r14
    movq %rbx, %r15
    ret
    .cfi_endproc
    .size delos_selftest_gate_probe, . - delos_selftest_gate_probe

    .section .text.delos_selftest_unset_frame_pointer, "ax"
    .global delos_selftest_unset_frame_pointer
    .type delos_selftest_unset_frame_pointer, @function
delos_selftest_unset_frame_pointer:
    .cfi_startproc
    movq $1, -0x60(%rbp)
    ret
    .cfi_endproc
    .size delos_selftest_unset_frame_pointer, . - delos_selftest_unset_frame_pointer

    .section .text.delos_selftest_gate_clobber, "ax"
    .global delos_selftest_gate_clobber
    .type delos_selftest_gate_clobber, @function
delos_selftest_gate_clobber:
    .cfi_startproc
    movabsq $0x3333333333333333, %rax
    movq %rax, 8(%rsp)
    movq %rax, 16(%rsp)
    movq %rax, 24(%rsp)
    movq %rax, 32(%rsp)
    movq %rax, 40(%rsp)
    movq %rax, 48(%rsp)
    movq %rax, 56(%rsp)
    movq %rax, 64(%rsp)
    ret
    .cfi_endproc
    .size delos_selftest_gate_clobber, . - delos_selftest_gate_clobber

    .section .text.delos_selftest_gate_unbalanced, "ax"
    .global delos_selftest_gate_unbalanced
    .type delos_selftest_gate_unbalanced, @function
delos_selftest_gate_unbalanced:
    .cfi_startproc
    popq %r11
    pushq $0
    pushq %r11
    ret
    .cfi_endproc
    .size delos_selftest_gate_unbalanced, . - delos_selftest_gate_unbalanced
    .text
)");

// Interrupts masked around the call: an interrupt frame pushed below the stack pointer would
// leave words in the scrubbed stack. Before the call, the stack below is filled with ones. On a
// spawned task: the scrub stops at the task's stack limit (none on the boot task).
[[gnu::noinline]] void call_the_gate_probe()
{
    asm volatile(R"(
        pushfq
        cli
        leaq -1032(%%rsp), %%rdi
        movl $128, %%ecx
        movq $-1, %%rax
        cld
        rep stosq
        movabsq $0x1111111111111101, %%rbx
        movabsq $0x1111111111111112, %%r12
        movabsq $0x1111111111111113, %%r13
        movabsq $0x1111111111111114, %%r14
        movabsq $0x1111111111111115, %%r15
        movq delos_selftest_gate_callee(%%rip), %%rdi
        xorl %%esi, %%esi
        xorl %%edx, %%edx
        xorl %%ecx, %%ecx
        call delos_cell_call_gate
        movq %%rbx, delos_selftest_gate_after+0(%%rip)
        movq %%r12, delos_selftest_gate_after+8(%%rip)
        movq %%r13, delos_selftest_gate_after+16(%%rip)
        movq %%r14, delos_selftest_gate_after+24(%%rip)
        movq %%r15, delos_selftest_gate_after+32(%%rip)
        popfq
    )" ::: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc");
}

ErrorOr<void> cell_call_gate_restores_and_withholds_registers()
{
    for (auto& word : delos_selftest_gate_seen)
        word = 1;
    delos_selftest_gate_callee = reinterpret_cast<const void*>(&delos_selftest_gate_probe);
    {
        auto handle = SELFTEST_TRY(spawn("gate-probe", [] { call_the_gate_probe(); }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
    }
    for (int i = 0; i < 6; ++i)
        SELFTEST_CHECK(delos_selftest_gate_seen[i] == runtime::kCellCallPoison);
    SELFTEST_CHECK(delos_selftest_gate_seen[6] == 0);  // the 1 KiB below the probe: zeroed
    SELFTEST_CHECK(delos_selftest_gate_after[0] == 0x1111111111111101ull);
    SELFTEST_CHECK(delos_selftest_gate_after[1] == 0x1111111111111112ull);
    SELFTEST_CHECK(delos_selftest_gate_after[2] == 0x1111111111111113ull);
    SELFTEST_CHECK(delos_selftest_gate_after[3] == 0x1111111111111114ull);
    SELFTEST_CHECK(delos_selftest_gate_after[4] == 0x1111111111111115ull);
    // A callee with an unset frame pointer: the task's fault, unwound through the gate.
    g_destroyed = 0;
    g_reached_after_fault = 0;
    {
        auto handle = SELFTEST_TRY(spawn("unset-frame-pointer", [] {
            Tracked local(10);
            runtime::call_through_gate(delos_selftest_unset_frame_pointer);
            g_reached_after_fault.fetch_add(1);
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 12 || outcome.fault().vector == 13);
    }
    SELFTEST_CHECK(g_reached_after_fault == 0 && g_destroyed == 1);
    return {};
}

// The gate restores from its save area, not from the stack: a callee that overwrote the gate's
// stack copies, or returned with an unbalanced stack pointer, still hands its caller back its
// registers, its stack pointer and its return address. Calls nest up to kCellCallNesting deep;
// one more is a fault of the task (#UD in the gate), and every call that returned gave its slot back.
std::uint64_t g_cursor_before = 0;
std::uint64_t g_cursor_after = 0;

[[gnu::noinline]] void nest_through_gate(std::uint64_t depth)
{
    if (depth > 0)
        runtime::call_through_gate(nest_through_gate, depth - 1);
}

ErrorOr<void> cell_call_gate_restores_from_its_save_area()
{
    for (const void* callee : {reinterpret_cast<const void*>(&delos_selftest_gate_clobber),
                               reinterpret_cast<const void*>(&delos_selftest_gate_unbalanced)}) {
        delos_selftest_gate_callee = callee;
        for (auto& word : delos_selftest_gate_after)
            word = 0;
        auto handle = SELFTEST_TRY(spawn("gate-save-area", [] {
            g_cursor_before = runtime::cell_call_cursor();
            call_the_gate_probe();
            g_cursor_after = runtime::cell_call_cursor();
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
        SELFTEST_CHECK(delos_selftest_gate_after[0] == 0x1111111111111101ull);
        SELFTEST_CHECK(delos_selftest_gate_after[1] == 0x1111111111111112ull);
        SELFTEST_CHECK(delos_selftest_gate_after[2] == 0x1111111111111113ull);
        SELFTEST_CHECK(delos_selftest_gate_after[3] == 0x1111111111111114ull);
        SELFTEST_CHECK(delos_selftest_gate_after[4] == 0x1111111111111115ull);
        SELFTEST_CHECK(g_cursor_before != 0 && g_cursor_after == g_cursor_before);
    }
    delos_selftest_gate_callee = reinterpret_cast<const void*>(&delos_selftest_gate_probe);
    {
        auto handle = SELFTEST_TRY(spawn("gate-nesting", [] {
            g_cursor_before = runtime::cell_call_cursor();
            nest_through_gate(runtime::kCellCallNesting - 1);  // kCellCallNesting open calls at the deepest
            g_cursor_after = runtime::cell_call_cursor();
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Returned);
        SELFTEST_CHECK(g_cursor_before != 0 && g_cursor_after == g_cursor_before);
    }
    {
        auto handle = SELFTEST_TRY(spawn("gate-too-deep", [] { nest_through_gate(runtime::kCellCallNesting); }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 6);
    }
    return {};
}

// A fault under a noexcept frame is unwound through that frame: the frames below and above it
// release their objects. Before, the noexcept frame was refused and the unwind resumed at the
// first clean return address above it, skipping the frames below (`inner`'s object).
[[gnu::noinline]] void fault_now() { *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = 1; }

[[gnu::noinline]] void inner_with_object()
{
    Tracked inner(8);
    fault_now();
    g_reached_after_fault.fetch_add(1);
}

[[gnu::noinline]] void noexcept_middle() noexcept { inner_with_object(); }

// Through a pointer the compiler cannot see is noexcept: the caller's call site has its cleanup.
void (*volatile g_noexcept_middle)() = noexcept_middle;

[[gnu::noinline]] void outer_with_objects()
{
    Tracked outer(7);
    auto blob = make_own<Blob>();
    g_noexcept_middle();
    g_reached_after_fault.fetch_add(1);
}

ErrorOr<void> noexcept_frame_is_unwound_through()
{
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t allocations_before = memory::heap_statistics().allocations_in_use;
    g_destroyed = 0;
    g_reached_after_fault = 0;
    {
        auto handle = SELFTEST_TRY(spawn("under-noexcept", [] { outer_with_objects(); }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 14);
    }
    SELFTEST_CHECK(g_reached_after_fault == 0);
    SELFTEST_CHECK(g_destroyed == 3);  // `inner` below the noexcept frame, `outer` and the Blob's member above it
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(memory::heap_statistics().allocations_in_use == allocations_before);
    return {};
}

ErrorOr<void> repeated_faults_leak_nothing()
{
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    for (int round = 0; round < 20; ++round) {
        auto handle = SELFTEST_TRY(spawn("faulter", [round] {
            return outer_frame(round % 2 ? FaultKind::DivideByZero : FaultKind::NullWrite);
        }));
        SELFTEST_CHECK(handle.join().end() == TaskEnd::Faulted);
    }
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    SELFTEST_CHECK(!g_fault_test_mutex.is_locked());
    return {};
}

ErrorOr<void> kernel_frame_table_is_registered()
{
    SELFTEST_CHECK(unwinding::registered_table_count() >= 1);
    auto found = unwinding::find_frame(reinterpret_cast<std::uint64_t>(&outer_frame) + 1);
    SELFTEST_CHECK(!found.is_error());
    SELFTEST_CHECK(found.value().fde.pc_begin == reinterpret_cast<std::uint64_t>(&outer_frame));
    return {};
}

// A fault inside a loaded cell (kv::get reading a key through a wild pointer): the cell's
// registered .eh_frame carries the unwind out of it, and the fault is named by cell and version.
ErrorOr<void> fault_inside_a_cell_is_unwound_and_named()
{
    if (!loader::cell_manager().library())
        return Error::make(ErrorCode::NotFound, "no boot archive: boot with the cells (QEMU -initrd build/cells/cells.a)");
    const link::LoadedCell* kv = loader::cell_manager().cell_namespace().find_cell("kv");
    SELFTEST_CHECK(kv != nullptr);
    const link::SymbolDefinition* get = loader::cell_manager().cell_namespace().find_symbol("_ZN5delos2kv3getENS_10StringViewE");
    SELFTEST_CHECK(get != nullptr);
    auto* kv_get = reinterpret_cast<ErrorOr<String> (*)(StringView)>(get->address);
    auto found = unwinding::find_frame(get->address);
    SELFTEST_CHECK(!found.is_error());  // the cell's .eh_frame is registered
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    {
        g_destroyed = 0;  // before the spawn: the task may run (and fault) before the spawner goes on
        auto handle = SELFTEST_TRY(spawn("cell-faulter", [kv_get] {
            Tracked held(5);
            auto result = kv_get(StringView(reinterpret_cast<const char*>(0x18), 8));
            return result.is_error() ? 1 : 0;
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == 14);
        SELFTEST_CHECK(g_destroyed == 1);
        SELFTEST_CHECK(kv->contains(outcome.fault().instruction_pointer));
        kernel_symbols::Symbol symbol;
        kernel_symbols::CodeOwner owner;
        SELFTEST_CHECK(kernel_symbols::symbolize(outcome.fault().instruction_pointer, symbol, owner));
        SELFTEST_CHECK(owner.name == "kv");
        SELFTEST_CHECK(owner.version == kv->version() && !owner.version.empty());
        SELFTEST_CHECK(!symbol.name.empty());
        TRY(check_logged(outcome.fault(), "lower_bound", "(cell kv "));
    }
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    // The cell still serves.
    auto value = kv_get("no-such-key");
    SELFTEST_CHECK(value.is_error());
    return {};
}

// A fault in a cell's init while it loads (cells/init_faults: a null write with a local guard
// live): the cell's unwind tables are registered before its constructors and init run, and the
// init runs in a task of its own, so the fault ends that task, not the kernel. The load fails
// naming the fault, the fault is logged against the cell (named while it was still loading),
// and the failed load leaves no cell, no section memory and no unwind table behind.
ErrorOr<void> fault_in_a_cell_init_fails_its_load()
{
    ByteView object(delos_selftest_init_faults_start,
                    static_cast<std::size_t>(delos_selftest_init_faults_end - delos_selftest_init_faults_start));
    SELFTEST_CHECK(!object.empty());
    SELFTEST_CHECK(!loader::cell_manager().is_loaded("init_faults"));
    std::uint64_t sections_before = loader::cell_manager().section_bytes_in_use();
    std::size_t tables_before = unwinding::registered_table_count();
    std::uint64_t contained_before = fault_containment_statistics().contained;
    auto loaded = loader::cell_manager().load_object(object);
    SELFTEST_CHECK(loaded.is_error());
    SELFTEST_CHECK(contains(loaded.error().explanation(), "init_faults"));
    SELFTEST_CHECK(contains(loaded.error().explanation(), "Faulted"));
    SELFTEST_CHECK(fault_containment_statistics().contained == contained_before + 1);
    FaultLogEntry entries[1];
    std::size_t count = copy_recent_faults(entries, 1);
    SELFTEST_CHECK(count >= 1);
    const FaultLogEntry& newest = entries[count - 1];
    SELFTEST_CHECK(newest.vector == 14);
    SELFTEST_CHECK(contains(StringView(newest.location), "write_through_null"));
    SELFTEST_CHECK(contains(StringView(newest.location), "(cell init_faults 1.0.0)"));
    SELFTEST_CHECK(StringView(newest.at.owner) == "init_faults" && StringView(newest.at.version) == "1.0.0");
    SELFTEST_CHECK(!loader::cell_manager().is_loaded("init_faults"));
    SELFTEST_CHECK(loader::cell_manager().section_bytes_in_use() == sections_before);
    SELFTEST_CHECK(unwinding::registered_table_count() == tables_before);
    return {};
}

// --- Stack overflow and the watchdog (docs/watchdog-and-stack-overflow.md), with the runaway
// cell (cells/runaway): unbounded recursion, and an endless loop. ---

struct Runaway {
    std::uint64_t (*recurse)(std::uint64_t);
    void (*spin)(volatile std::uint64_t*);
    std::int64_t (*live_guards)();
    std::uint64_t (*deepest)();
    CellId cell;
};

template <typename Function>
ErrorOr<Function> runaway_symbol(StringView name)
{
    const link::SymbolDefinition* symbol = loader::cell_manager().cell_namespace().find_symbol(name);
    if (!symbol)
        return Error::make(ErrorCode::NotFound, "runaway: a symbol is missing");
    return reinterpret_cast<Function>(symbol->address);
}

// Loads the runaway cell (embedded in the kernel) unless it is loaded.
ErrorOr<Runaway> load_runaway()
{
    if (!loader::cell_manager().is_loaded("runaway")) {
        ByteView object(delos_selftest_runaway_start,
                        static_cast<std::size_t>(delos_selftest_runaway_end - delos_selftest_runaway_start));
        TRY(loader::cell_manager().load_object(object));
    }
    // Its faults are what these tests make: fault recovery must not reload it under them (a
    // reload frees the copy whose functions the tests hold), however many faults earlier tests
    // of the run (the deadlock ones use it too) left within the policy's window.
    recovery::RecoveryPolicy never_reload;
    never_reload.window_ns = 1;  // no two faults are ever "within the window" of each other
    never_reload.reload_after_faults = 16;
    TRY(recovery::set_cell_policy("runaway", never_reload));
    Runaway runaway{};
    runaway.recurse = TRY(runaway_symbol<std::uint64_t (*)(std::uint64_t)>("runaway_recurse"));
    runaway.spin = TRY(runaway_symbol<void (*)(volatile std::uint64_t*)>("runaway_spin"));
    runaway.live_guards = TRY(runaway_symbol<std::int64_t (*)()>("runaway_live_guards"));
    runaway.deepest = TRY(runaway_symbol<std::uint64_t (*)()>("runaway_deepest"));
    runaway.cell = loader::cell_manager().cell_at(reinterpret_cast<std::uint64_t>(runaway.spin));
    if (runaway.cell == kKernelCell)
        return Error::make(ErrorCode::NotFound, "runaway: its code has no cell");
    return runaway;
}

// A task that counts while the others misbehave: it sleeps a millisecond between counts, so it
// only counts if the CPU keeps coming back to it.
struct Bystander {
    std::atomic<std::uint64_t> count{0};
    std::atomic<bool> stop{false};
};

[[gnu::noinline]] std::uint64_t recurse_in_the_kernel(std::uint64_t depth)
{
    Tracked held(static_cast<int>(depth));
    volatile char buffer[200];
    buffer[depth % sizeof buffer] = static_cast<char>(depth);
    return recurse_in_the_kernel(depth + 1) + buffer[(depth + 1) % sizeof buffer];
}

// Unbounded recursion in a cell: the prologue of the level that would cross the task's stack
// limit calls __morestack, which traps; the task is unwound from that level's caller (every
// level's guard destructor runs), ends Faulted with a STACK_OVERFLOW fault, and the system runs on.
ErrorOr<void> stack_overflow_in_a_cell_is_unwound()
{
    Runaway runaway = TRY(load_runaway());
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t contained_before = fault_containment_statistics().contained;
    g_destroyed = 0;
    {
        auto recurse = runaway.recurse;
        auto handle = SELFTEST_TRY(spawn("overflow", [recurse] {
            Tracked held(9);
            return recurse(0) + static_cast<std::uint64_t>(held.id);
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        SELFTEST_CHECK(outcome.fault().vector == kStackOverflowVector);
        SELFTEST_CHECK(outcome.fault().sequence == contained_before + 1);
        // ~16 KiB of frames of ~250 bytes before the limit, every one unwound.
        SELFTEST_CHECK(runaway.deepest() >= 40);
        SELFTEST_CHECK(outcome.fault().frames >= runaway.deepest());
        SELFTEST_CHECK(outcome.ownership_at_end().heap_bytes == 0);
        FaultLogEntry entries[1];
        SELFTEST_CHECK(copy_recent_faults(entries, 1) == 1);
        SELFTEST_CHECK(entries[0].vector == kStackOverflowVector);
        SELFTEST_CHECK(StringView(entries[0].at.owner) == "runaway");
        SELFTEST_CHECK(contains(StringView(entries[0].at.symbol), "runaway_recurse"));
    }
    SELFTEST_CHECK(runaway.live_guards() == 0);
    SELFTEST_CHECK(g_destroyed == 1);
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    auto next = SELFTEST_TRY(spawn("after-overflow", [] { return 42; }));
    auto after = next.join();
    SELFTEST_CHECK(after.returned() && after.value() == 42);
    return {};
}

// The same in kernel code: the check is in every guest function, not only in cells.
ErrorOr<void> stack_overflow_in_the_kernel_is_unwound()
{
    g_destroyed = 0;
    auto handle = SELFTEST_TRY(spawn("kernel-overflow", [] { return recurse_in_the_kernel(0); }));
    auto outcome = handle.join();
    SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
    SELFTEST_CHECK(outcome.fault().vector == kStackOverflowVector);
    SELFTEST_CHECK(g_destroyed >= 40 && static_cast<std::uint32_t>(g_destroyed) + 3 >= outcome.fault().frames);
    return {};
}

std::uint64_t milliseconds_since(std::uint64_t start_tsc)
{
    std::uint64_t per_ms = tsc::ticks_per_second() / 1000;
    return (cpu::read_tsc() - start_tsc) / (per_ms ? per_ms : 1);
}

// A task stuck in an endless loop in a cell, with a 50 ms budget of its own: the timer tick
// after the budget finds it in the cell's code and unwinds it from there (its guard's destructor
// runs), a WATCHDOG fault; a bystander task keeps counting throughout.
ErrorOr<void> watchdog_unwinds_a_task_looping_in_a_cell()
{
    Runaway runaway = TRY(load_runaway());
    auto bystander = make_own<Bystander>();
    Bystander* shared = bystander.get();
    auto counting = SELFTEST_TRY(spawn("bystander", [shared] {
        while (!shared->stop.load())
            shared->count.fetch_add(1), scheduler::sleep_for(1'000'000);
        return 0;
    }));
    std::uint64_t expired_before = watchdog::statistics().unwound;
    static volatile std::uint64_t spins = 0;
    spins = 0;
    auto spin = runaway.spin;
    SpawnOptions options;
    options.watchdog_nanoseconds = 50'000'000;
    auto handle = SELFTEST_TRY(spawn("spinner", [spin] { spin(&spins); }, options));
    std::uint64_t start = cpu::read_tsc();
    std::uint64_t counted_before = shared->count.load();
    auto outcome = handle.join();
    std::uint64_t waited_ms = milliseconds_since(start);
    std::uint64_t counted_during = shared->count.load() - counted_before;
    SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
    SELFTEST_CHECK(outcome.fault().vector == kWatchdogVector);
    SELFTEST_CHECK(waited_ms >= 50);
    SELFTEST_CHECK(spins > 0);
    SELFTEST_CHECK(runaway.live_guards() == 0);
    SELFTEST_CHECK(watchdog::statistics().unwound == expired_before + 1);
    kprint("selftest: the spinner ran {} ms ({} spins); the bystander counted {} times meanwhile\n", waited_ms,
           static_cast<std::uint64_t>(spins), counted_during);
    SELFTEST_CHECK(counted_during >= 2);  // it ran while the spinner spun, not only after
    FaultLogEntry entries[1];
    SELFTEST_CHECK(copy_recent_faults(entries, 1) == 1);
    SELFTEST_CHECK(entries[0].vector == kWatchdogVector);
    SELFTEST_CHECK(contains(StringView(entries[0].at.symbol), "runaway_spin"));
    // And keeps counting after.
    std::uint64_t after_fault = shared->count.load();
    scheduler::sleep_for(5'000'000);
    SELFTEST_CHECK(shared->count.load() > after_fault);
    shared->stop.store(true);
    SELFTEST_CHECK(counting.join().returned());
    return {};
}

// A budget set for the cell applies to the tasks that run in it.
ErrorOr<void> watchdog_budget_per_cell()
{
    Runaway runaway = TRY(load_runaway());
    TRY(watchdog::set_cell_budget(runaway.cell, 30'000'000));
    SELFTEST_CHECK(watchdog::budget_for_cell(runaway.cell) == 30'000'000);
    SELFTEST_CHECK(watchdog::budget_for_cell(kKernelCell) == watchdog::kNoBudget);
    static volatile std::uint64_t spins = 0;
    auto spin = runaway.spin;
    SpawnOptions options;
    options.cell = runaway.cell;
    auto handle = SELFTEST_TRY(spawn("cell-spinner", [spin] { spin(&spins); }, options));
    auto outcome = handle.join();
    TRY(watchdog::set_cell_budget(runaway.cell, 0));
    SELFTEST_CHECK(watchdog::budget_for_cell(runaway.cell) == watchdog::kDefaultCellBudgetNanoseconds);
    SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
    SELFTEST_CHECK(outcome.fault().vector == kWatchdogVector);
    SELFTEST_CHECK(runaway.live_guards() == 0);
    return {};
}

// Over its budget in kernel code the task is left alone (kernel code may hold state a sleeping
// lock guards for others): it finishes its 80 ms of work and returns.
ErrorOr<void> watchdog_leaves_kernel_code_alone()
{
    SpawnOptions options;
    options.watchdog_nanoseconds = 10'000'000;
    std::uint64_t expired_before = watchdog::statistics().expired;
    auto handle = SELFTEST_TRY(spawn("kernel-busy", [] {
        std::uint64_t start = cpu::read_tsc();
        while (milliseconds_since(start) < 80) {
        }
        return 7;
    }, options));
    auto outcome = handle.join();
    SELFTEST_CHECK(outcome.returned() && outcome.value() == 7);
    SELFTEST_CHECK(watchdog::statistics().expired > expired_before);  // it was over, and was left alone
    return {};
}

// --- Deadlocks on a cell's locks (docs/deadlocks.md), with the runaway cell's two locks.

struct CellLocks {
    int (*pair)(int, int, void (*)());
    int (*hold)(int, void (*)());
    bool (*is_free)(int);
    Runaway runaway;
};

ErrorOr<CellLocks> load_cell_locks()
{
    CellLocks locks{};
    locks.runaway = TRY(load_runaway());
    locks.pair = TRY(runaway_symbol<int (*)(int, int, void (*)())>("runaway_lock_pair"));
    locks.hold = TRY(runaway_symbol<int (*)(int, void (*)())>("runaway_hold_lock"));
    locks.is_free = TRY(runaway_symbol<bool (*)(int)>("runaway_lock_is_free"));
    return locks;
}

std::atomic<int> g_holding_first{0};

// Both tasks hold their first lock before either asks for its second: the deadlock is certain.
void wait_until_both_hold_their_first()
{
    g_holding_first.fetch_add(1);
    while (g_holding_first.load() < 2)
        scheduler::sleep_for(1'000'000);
}

// Two tasks of a cell take the cell's two locks in opposite orders: the wait that closes the
// cycle is ended, its task unwound from it (DEADLOCK, "closed a cycle"), its guard releases the
// lock it held, and the other task gets it and returns. Nothing is leaked.
ErrorOr<void> deadlock_on_two_cell_locks_unwinds_one_task()
{
    // Out of the recovery policy's 1 s window of the earlier faults in this cell: this fault then
    // only kills the task (a reload would change the heap this test compares).
    scheduler::sleep_for(1'100'000'000);
    CellLocks locks = TRY(load_cell_locks());
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    auto before = lock_waits::statistics();
    g_holding_first = 0;
    SpawnOptions options;
    options.cell = locks.runaway.cell;
    {
        auto pair = locks.pair;
        auto first = SELFTEST_TRY(spawn("lock-0-then-1", [pair] { return pair(0, 1, wait_until_both_hold_their_first); }, options));
        auto second = SELFTEST_TRY(spawn("lock-1-then-0", [pair] { return pair(1, 0, wait_until_both_hold_their_first); }, options));
        auto a = first.join();
        auto b = second.join();
        SELFTEST_CHECK(a.end() == TaskEnd::Faulted || b.end() == TaskEnd::Faulted);
        auto& unwound = a.end() == TaskEnd::Faulted ? a : b;
        auto& survivor = a.end() == TaskEnd::Faulted ? b : a;
        SELFTEST_CHECK(survivor.returned() && survivor.value() == 1);
        SELFTEST_CHECK(unwound.fault().vector == kDeadlockVector);
        SELFTEST_CHECK(unwound.fault().error_code == static_cast<std::uint64_t>(LockWaitEnd::Cycle));
        SELFTEST_CHECK(unwound.fault().landing_pads >= 1);  // the guards' destructors ran
        SELFTEST_CHECK(unwound.ownership_at_end().heap_bytes == 0);
        FaultLogEntry entries[1];
        SELFTEST_CHECK(copy_recent_faults(entries, 1) == 1);
        SELFTEST_CHECK(entries[0].vector == kDeadlockVector);
        SELFTEST_CHECK(StringView(entries[0].at.owner) == "runaway");
        SELFTEST_CHECK(contains(StringView(entries[0].at.symbol), "runaway_lock_pair"));
        kprint("selftest: deadlock: task '{}' unwound, task '{}' finished\n",
               a.end() == TaskEnd::Faulted ? "lock-0-then-1" : "lock-1-then-0",
               a.end() == TaskEnd::Faulted ? "lock-1-then-0" : "lock-0-then-1");
    }
    auto after = lock_waits::statistics();
    SELFTEST_CHECK(after.cycles == before.cycles + 1);
    SELFTEST_CHECK(after.raised == before.raised + 1 && after.refused == before.refused);
    SELFTEST_CHECK(locks.is_free(0) && locks.is_free(1));
    SELFTEST_CHECK(locks.runaway.live_guards() == 0);
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    return {};
}

void sleep_300_ms() { scheduler::sleep_for(300'000'000); }
void return_at_once() {}

// A long wait for a cell's lock that is held (by a task sleeping 300 ms) is not a deadlock: no
// cycle, well within the budget. Both tasks finish; nothing was ended.
ErrorOr<void> long_cell_lock_wait_within_budget_is_left_alone()
{
    CellLocks locks = TRY(load_cell_locks());
    auto before = lock_waits::statistics();
    SpawnOptions options;
    options.cell = locks.runaway.cell;
    auto hold = locks.hold;
    auto holder = SELFTEST_TRY(spawn("holds-300ms", [hold] { return hold(0, sleep_300_ms); }, options));
    while (locks.is_free(0))
        scheduler::sleep_for(1'000'000);
    std::uint64_t start = cpu::read_tsc();
    auto waiter = SELFTEST_TRY(spawn("waits-for-it", [hold] { return hold(0, return_at_once); }, options));
    auto waited = waiter.join();
    std::uint64_t waited_ms = milliseconds_since(start);
    auto held = holder.join();
    SELFTEST_CHECK(held.returned() && held.value() == 1);
    SELFTEST_CHECK(waited.returned() && waited.value() == 1);
    SELFTEST_CHECK(waited_ms >= 200);
    auto after = lock_waits::statistics();
    SELFTEST_CHECK(after.waits > before.waits);
    SELFTEST_CHECK(after.raised == before.raised && after.timeouts == before.timeouts);
    SELFTEST_CHECK(locks.is_free(0));
    return {};
}

Semaphore g_never_before_released;

void wait_for_the_test_to_signal() { g_never_before_released.acquire(); }

// With a 100 ms lock-wait budget: the holder waits for an event (a semaphore the test releases
// after 400 ms) while holding the lock, which is legitimate and never ended; the task waiting for
// the lock past the budget is unwound (DEADLOCK, "past the budget"), the holder then finishes.
// A kernel mutex wait (the kernel's own lock, even in a cell's task) is never ended either.
ErrorOr<void> lock_wait_past_budget_is_unwound_and_event_waits_are_not()
{
    CellLocks locks = TRY(load_cell_locks());
    auto before = lock_waits::statistics();
    lock_waits::set_budget(100'000'000);
    SpawnOptions options;
    options.cell = locks.runaway.cell;
    auto hold = locks.hold;
    auto holder = SELFTEST_TRY(spawn("holds-over-event", [hold] { return hold(1, wait_for_the_test_to_signal); }, options));
    while (locks.is_free(1))
        scheduler::sleep_for(1'000'000);
    auto waiter = SELFTEST_TRY(spawn("waits-too-long", [hold] { return hold(1, return_at_once); }, options));
    static Mutex kernel_lock;
    kernel_lock.lock();
    auto kernel_waiter = SELFTEST_TRY(spawn("waits-kernel-lock", [] {
        MutexGuard guard(kernel_lock);
        return 5;
    }, options));
    auto waited = waiter.join();
    scheduler::sleep_for(300'000'000);  // the holder's event wait and the kernel lock wait outlast the budget
    kernel_lock.unlock();
    g_never_before_released.release();
    auto held = holder.join();
    auto kernel_waited = kernel_waiter.join();
    lock_waits::set_budget(0);
    SELFTEST_CHECK(lock_waits::budget() == lock_waits::kDefaultBudgetNanoseconds);
    SELFTEST_CHECK(waited.end() == TaskEnd::Faulted);
    SELFTEST_CHECK(waited.fault().vector == kDeadlockVector);
    SELFTEST_CHECK(waited.fault().error_code == static_cast<std::uint64_t>(LockWaitEnd::Timeout));
    SELFTEST_CHECK(held.returned() && held.value() == 1);
    SELFTEST_CHECK(kernel_waited.returned() && kernel_waited.value() == 5);
    auto after = lock_waits::statistics();
    SELFTEST_CHECK(after.timeouts == before.timeouts + 1);
    SELFTEST_CHECK(after.raised == before.raised + 1 && after.refused == before.refused);
    SELFTEST_CHECK(locks.is_free(1));
    SELFTEST_CHECK(locks.runaway.live_guards() == 0);
    return {};
}

Mutex g_kernel_lock_in_a_cycle;
std::atomic<bool> g_cell_lock_held{false};
std::atomic<std::uint64_t> g_waits_before_second{0};

// Holding the cell's lock 0: waits until the other task blocks for it, then asks for the kernel
// lock that task holds. That (kernel, never ended) wait closes the cycle.
void take_the_kernel_lock_once_the_other_waits()
{
    g_cell_lock_held.store(true);
    while (lock_waits::statistics().waits == g_waits_before_second.load())
        scheduler::sleep_for(1'000'000);
    scheduler::sleep_for(5'000'000);  // it is blocked, not only counted
    MutexGuard guard(g_kernel_lock_in_a_cycle);
}

// The wait that closes the cycle is a kernel lock's, which is never ended: the victim is the
// other task, blocked on the cell's lock. It is taken out of the lock's queue, woken and unwound
// from its wait point; its kernel MutexGuard's destructor releases the kernel lock on the way,
// so the first task gets it and returns.
ErrorOr<void> deadlock_closed_by_a_kernel_wait_unwinds_the_cell_waiter()
{
    CellLocks locks = TRY(load_cell_locks());
    scheduler::sleep_for(1'100'000'000);  // out of the recovery window of the previous faults
    auto before = lock_waits::statistics();
    g_cell_lock_held = false;
    g_waits_before_second = before.waits;
    SpawnOptions options;
    options.cell = locks.runaway.cell;
    auto hold = locks.hold;
    auto first = SELFTEST_TRY(spawn("cell-then-kernel", [hold] {
        return hold(0, take_the_kernel_lock_once_the_other_waits);
    }, options));
    auto second = SELFTEST_TRY(spawn("kernel-then-cell", [hold] {
        while (!g_cell_lock_held.load())
            scheduler::sleep_for(1'000'000);
        MutexGuard guard(g_kernel_lock_in_a_cycle);
        return hold(0, return_at_once);
    }, options));
    auto a = first.join();
    auto b = second.join();
    SELFTEST_CHECK(a.returned() && a.value() == 1);
    SELFTEST_CHECK(b.end() == TaskEnd::Faulted);
    SELFTEST_CHECK(b.fault().vector == kDeadlockVector);
    SELFTEST_CHECK(b.fault().error_code == static_cast<std::uint64_t>(LockWaitEnd::Cycle));
    auto after = lock_waits::statistics();
    SELFTEST_CHECK(after.cycles == before.cycles + 1);
    SELFTEST_CHECK(after.raised == before.raised + 1 && after.refused == before.refused);
    SELFTEST_CHECK(!g_kernel_lock_in_a_cycle.is_locked());
    SELFTEST_CHECK(locks.is_free(0));
    SELFTEST_CHECK(locks.runaway.live_guards() == 0);
    return {};
}

// --- Containment's edges (docs/fault-campaign.md, "Containment limits"). ---

// Runs `body` in a task holding a kernel-side Tracked, joins it, checks it ended Faulted with
// the guest heap back where it was and the system still running; returns its fault.
template <typename Body>
ErrorOr<TaskFault> fault_in_a_task(const char* name, Body body)
{
    stack_cache::release_all();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    g_destroyed = 0;
    TaskFault fault{};
    {
        auto handle = SELFTEST_TRY(spawn(name, [body] {
            Tracked held(11);
            return body() + held.id;
        }));
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
        fault = outcome.fault();
    }
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    // The system runs on, interrupts and all: a task that sleeps wakes again.
    auto next = SELFTEST_TRY(spawn("after-edge-fault", [] {
        scheduler::sleep_for(2'000'000);
        return 42;
    }));
    auto after = next.join();
    SELFTEST_CHECK(after.returned() && after.value() == 42);
    SELFTEST_CHECK(cpu::interrupts_enabled());
    return fault;
}

// A cell's code masks interrupts for a spin lock at a corrupted address and faults on it before
// it holds it (the fault campaign's "interrupts masked" class: inlined channel code in a worker).
// No spin lock is held: the task is unwound with interrupts unmasked, the cell's guard and the
// kernel frame's Tracked are destroyed. (Before: "not contained", the guest stopped.)
ErrorOr<void> masked_fault_in_a_cell_without_a_spin_lock_is_unwound()
{
    Runaway runaway = TRY(load_runaway());
    auto masked_fault = TRY(runaway_symbol<int (*)(std::uint64_t)>("runaway_masked_fault"));
    auto before = fault_containment_statistics();
    SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    auto fault = TRY(fault_in_a_task("masked-fault", [masked_fault] { return masked_fault(0x18); }));
    SELFTEST_CHECK(fault.vector == 14);
    SELFTEST_CHECK(g_destroyed == 1);
    SELFTEST_CHECK(runaway.live_guards() == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    SELFTEST_CHECK(after.masked == before.masked + 1);
    SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    FaultLogEntry entries[1];
    SELFTEST_CHECK(copy_recent_faults(entries, 1) == 1);
    SELFTEST_CHECK(contains(StringView(entries[0].at.symbol), "runaway_take_spin_lock"));
    return {};
}

// The same masked fault while a cell load is midway (the manager's lock held by another task, as
// when a reload waits or is preempted): the manager's records are not to be trusted then, so the
// registry of unwind tables says the faulting instruction is a cell's. (Before: "interrupts were
// masked in the kernel's code", the guest stopped; seen in the campaign while a reload ran.)
ErrorOr<void> masked_fault_in_a_cell_while_a_load_is_midway_is_unwound()
{
    Runaway runaway = TRY(load_runaway());
    auto masked_fault = TRY(runaway_symbol<int (*)(std::uint64_t)>("runaway_masked_fault"));
    SELFTEST_CHECK(unwinding::is_registered_cell_code(reinterpret_cast<std::uint64_t>(masked_fault)));
    SELFTEST_CHECK(!unwinding::is_registered_cell_code(reinterpret_cast<std::uint64_t>(&fault_now)));
    auto before = fault_containment_statistics();
    TRY(loader::cell_manager().lock_for_test());
    bool midway = !kernel_symbols::external_symbolizer_quiescent();
    auto fault = fault_in_a_task("masked-fault-midway", [masked_fault] { return masked_fault(0x18); });
    loader::cell_manager().unlock_for_test();
    SELFTEST_CHECK(midway);
    SELFTEST_CHECK(!fault.is_error());
    SELFTEST_CHECK(fault.value().vector == 14);
    SELFTEST_CHECK(g_destroyed == 1);
    SELFTEST_CHECK(runaway.live_guards() == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.masked == before.masked + 1);
    SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    return {};
}

// A call's ledger reached through its caller's corrupted data (the campaign: a worker's saved
// register or stack word hit by a fault in the target): nothing the caller passed is read or
// written with the ledgers' spin lock held. hand_out() of a reply whose block pointer is wild
// faults before the lock, a task fault like any other, and the ledger is still the caller's to
// close; close() and is_open() on a "CallOwnership" that is not one (garbage, never registered)
// touch nothing. (Before: the fault came with the lock held, not contained, the guest stopped;
// close() on garbage copied as many "leftovers" as its garbage said.)
alignas(16) unsigned char g_not_a_call[sizeof(memory::CallOwnership)];

ErrorOr<void> call_ownership_reads_nothing_of_its_caller_under_its_lock()
{
    std::uint64_t open_before = memory::CallOwnership::open_count();
    memory::CallOwnership call;
    SELFTEST_CHECK(!call.open(0x1000, 0x1000).is_error());
    // A SharedMappedPages whose block pointer is wild (non-canonical): it once made hand_out fault
    // under the ledgers' lock; now it is compared with the blocks the call shared, never read
    // through, and dropped.
    alignas(memory::SharedMappedPages) static unsigned char wild_reply[sizeof(memory::SharedMappedPages)];
    std::uint64_t wild_block = 0xdead'0000'0000'0000ull;
    __builtin_memcpy(wild_reply, &wild_block, sizeof wild_block);
    auto& reply = *reinterpret_cast<memory::SharedMappedPages*>(wild_reply);
    auto before = fault_containment_statistics();
    SELFTEST_CHECK(!call.hand_out(reply));
    SELFTEST_CHECK(!reply.valid());
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained && after.refused == before.refused);
    SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    SELFTEST_CHECK(call.is_open());
    SELFTEST_CHECK(call.close().total() == 0);
    SELFTEST_CHECK(memory::CallOwnership::open_count() == open_before);
    for (auto& byte : g_not_a_call)
        byte = 0x41;
    auto* not_a_call = reinterpret_cast<memory::CallOwnership*>(g_not_a_call);
    SELFTEST_CHECK(!not_a_call->is_open());
    // A null `this` (a worker register zeroed by a fault) matches no ledger: it once matched
    // every free slot, and hand_out then read the ledger at address 0 under the lock.
    static volatile std::uintptr_t null_address = 0;
    auto* null_call = reinterpret_cast<memory::CallOwnership*>(null_address);
    SELFTEST_CHECK(!null_call->is_open());
    memory::CallRelease released = not_a_call->close();
    SELFTEST_CHECK(released.total() == 0 && released.refused == 0 && released.untracked == 0);
    for (auto byte : g_not_a_call)
        SELFTEST_CHECK(byte == 0x41);
    SELFTEST_CHECK(memory::CallOwnership::open_count() == open_before);
    return {};
}

// A cell's code spins, interrupts masked, on a lock word that a wild write left set (nobody
// holds it, nobody will release it): past the budget the spin traps, and the spinning task is
// unwound as a SPIN LOCK STUCK fault naming the lock. (Before: the guest hung without a word.)
ErrorOr<void> spin_on_a_lock_nobody_releases_is_a_task_fault()
{
    Runaway runaway = TRY(load_runaway());
    auto masked_fault = TRY(runaway_symbol<int (*)(std::uint64_t)>("runaway_masked_fault"));
    static volatile std::uint64_t corrupted_lock_word = 0;
    corrupted_lock_word = 1;  // what a wild write into a lock does: "taken", by no one
    auto lock_address = reinterpret_cast<std::uint64_t>(&corrupted_lock_word);
    auto before = fault_containment_statistics();
    auto fault = TRY(fault_in_a_task("stuck-spin", [masked_fault, lock_address] { return masked_fault(lock_address); }));
    SELFTEST_CHECK(fault.vector == kSpinLockStuckVector);
    SELFTEST_CHECK(fault.fault_address == lock_address);
    SELFTEST_CHECK(g_destroyed == 1);
    SELFTEST_CHECK(runaway.live_guards() == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.masked == before.masked + 1);
    FaultLogEntry entries[1];
    SELFTEST_CHECK(copy_recent_faults(entries, 1) == 1);
    SELFTEST_CHECK(contains(StringView(entries[0].at.symbol), "runaway_take_spin_lock"));
    corrupted_lock_word = 0;
    return {};
}

// The spin-lock count the rule above reads: taken and released, nested, and across the
// scheduler's lock (taken by one task, released by the next one).
ErrorOr<void> spin_lock_count_follows_the_locks_held()
{
    std::uint32_t base = spin_locks_held_on_this_cpu();
    SELFTEST_CHECK(base == 0);
    SpinLock first, second;
    {
        SpinLockGuard one(first);
        SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 1);
        {
            SpinLockGuard two(second);
            SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 2);
        }
        SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 1);
    }
    SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    // Tasks that start, switch and end in between (each switch's lock is released by the next task).
    for (int i = 0; i < 4; ++i) {
        auto handle = SELFTEST_TRY(spawn("lock-count", [] {
            scheduler::yield();
            return spin_locks_held_on_this_cpu() == 0 ? 1 : 0;
        }));
        scheduler::yield();
        auto outcome = handle.join();
        SELFTEST_CHECK(outcome.returned() && outcome.value() == 1);
        SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    }
    for (int i = 0; i < 8; ++i)
        scheduler::yield();
    scheduler::sleep_for(1'000'000);
    SELFTEST_CHECK(spin_locks_held_on_this_cpu() == 0);
    return {};
}

// A destructor run by the unwind faults again (the campaign: a target's String destroyed through
// a corrupted pointer): the rest of that frame's cleanups are abandoned, the unwind goes on in the
// caller (the kernel frame's Tracked is destroyed), and the task ends Faulted. (Before: "a fault
// while unwinding", the guest stopped.)
ErrorOr<void> fault_in_a_cells_cleanup_abandons_that_frame()
{
    Runaway runaway = TRY(load_runaway());
    auto fault_in_cleanup = TRY(runaway_symbol<int (*)(volatile std::uint64_t*)>("runaway_fault_in_cleanup"));
    auto before = fault_containment_statistics();
    auto fault = TRY(fault_in_a_task("cleanup-fault", [fault_in_cleanup] {
        return fault_in_cleanup(reinterpret_cast<volatile std::uint64_t*>(g_null_address + 0x20));
    }));
    SELFTEST_CHECK(fault.vector == 14);
    SELFTEST_CHECK(g_destroyed == 1);              // the caller's cleanup ran after the abandoned pad
    SELFTEST_CHECK(runaway.live_guards() == 0);    // the pad's first cleanup ran before the fault
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    SELFTEST_CHECK(after.abandoned_pads == before.abandoned_pads + 1);
    return {};
}

// A destructor run by the unwind never ends (the campaign: a String destroyed through a register
// the faulting callee left wrong, counting down a size read from freed memory): the watchdog finds
// the task over its budget in that landing pad and abandons it like one that faults; the unwind
// goes on in the caller (the kernel frame's Tracked is destroyed) and the task ends Faulted with
// the first fault. (Before: a tick during an unwind left it alone, and it spun for ever.)
ErrorOr<void> endless_cleanup_in_a_cell_is_abandoned_by_the_watchdog()
{
    Runaway runaway = TRY(load_runaway());
    using Endless = int (*)(volatile std::uint64_t*, volatile std::uint64_t*);
    auto endless = TRY(runaway_symbol<Endless>("runaway_fault_with_an_endless_cleanup"));
    auto before = fault_containment_statistics();
    std::uint64_t unwound_before = watchdog::statistics().unwound;
    static volatile std::uint64_t spins = 0;
    spins = 0;
    g_destroyed = 0;
    SpawnOptions options;
    options.watchdog_nanoseconds = 50'000'000;
    auto handle = SELFTEST_TRY(spawn("endless-cleanup", [endless] {
        Tracked held(12);
        return endless(reinterpret_cast<volatile std::uint64_t*>(g_null_address + 0x28), &spins) + held.id;
    }, options));
    auto outcome = handle.join();
    SELFTEST_CHECK(outcome.end() == TaskEnd::Faulted);
    SELFTEST_CHECK(outcome.fault().vector == 14);  // the task's fault is the first one
    SELFTEST_CHECK(spins > 0);                     // the endless cleanup did run
    SELFTEST_CHECK(g_destroyed == 1);              // the caller's cleanup ran after the abandoned pad
    SELFTEST_CHECK(runaway.live_guards() == 0);    // the pad's other cleanup ran before the loop
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    SELFTEST_CHECK(after.abandoned_pads == before.abandoned_pads + 1);
    SELFTEST_CHECK(watchdog::statistics().unwound == unwound_before + 1);
    std::uint64_t spun = spins;
    scheduler::sleep_for(5'000'000);
    SELFTEST_CHECK(spins == spun);  // nothing spins any more
    return {};
}

// A fault with no return path up the stack: the task ends Faulted without running its cleanups
// (the kernel frame's Tracked is not destroyed). (Before: "its stack cannot be unwound", fatal.)
ErrorOr<void> fault_in_a_cell_without_a_return_path_ends_the_task()
{
    TRY(load_runaway());
    auto no_return = TRY(runaway_symbol<void (*)()>("runaway_fault_without_return_path"));
    auto before = fault_containment_statistics();
    auto fault = TRY(fault_in_a_task("no-return-path", [no_return] {
        no_return();
        return 0;
    }));
    SELFTEST_CHECK(fault.vector == 6);
    SELFTEST_CHECK(fault.frames == 0);
    SELFTEST_CHECK(g_destroyed == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    SELFTEST_CHECK(after.ended_without_unwind == before.ended_without_unwind + 1);
    return {};
}

// A cell's code runs its stack pointer off the task's stack: the page fault cannot be delivered
// and the CPU raises a double fault on its own stack. The task ends Faulted (vector 8) without its
// cleanups; the guest runs on. (Before: "#DF double fault", the guest stopped.)
ErrorOr<void> double_fault_in_a_cell_ends_the_task()
{
    TRY(load_runaway());
    auto run_off = TRY(runaway_symbol<void (*)()>("runaway_run_off_the_stack"));
    auto before = fault_containment_statistics();
    auto fault = TRY(fault_in_a_task("off-the-stack", [run_off] {
        run_off();
        return 0;
    }));
    SELFTEST_CHECK(fault.vector == 8);
    SELFTEST_CHECK(fault.frames == 0);
    SELFTEST_CHECK(fault.instruction_pointer == reinterpret_cast<std::uint64_t>(run_off) + 7);  // the push
    SELFTEST_CHECK(g_destroyed == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    SELFTEST_CHECK(after.ended_without_unwind == before.ended_without_unwind + 1);
    return {};
}

// What the off-stack selftest below calls with the stack pointer in a heap block: its split-stack
// prologue traps before anything of it runs, so the flag stays clear.
bool g_off_stack_callee_ran = false;
[[gnu::noinline]] void off_stack_callee()
{
    g_off_stack_callee_ran = true;
    asm volatile("" ::: "memory");
}

// A cell's code moves rsp into a heap block and calls a kernel function there (the fault
// campaign's `mov %edi,%esp`: rsp into the request). The kernel function's split-stack prologue
// traps with rsp off the task's stack: the task ends Faulted (STACK OVERFLOW, at the cell's call,
// no frames, no cleanups), the guest runs on, the heap and the frames are back to their baseline,
// and what the trap and its containment wrote through the wrong rsp stayed inside the block.
// (Before: "a stack overflow off the task's stack" was refused and the guest stopped.)
ErrorOr<void> call_with_the_stack_pointer_in_the_heap_ends_the_task()
{
    TRY(load_runaway());
    auto call_off = TRY(runaway_symbol<void (*)(std::uint64_t, void (*)())>("runaway_call_off_the_stack"));
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    // Allocated before the task's stack, so (the frame allocator is next-fit) below it: the
    // prologue's check compares rsp with the limit at the stack's bottom. Checked, not assumed.
    constexpr std::size_t kBlockBytes = 32 * 1024;
    constexpr std::uint8_t kPattern = 0xa5;
    auto* block = static_cast<std::uint8_t*>(memory::heap_allocate(kBlockBytes, 16));
    SELFTEST_CHECK(block != nullptr);
    for (std::size_t i = 0; i < kBlockBytes; ++i)
        block[i] = kPattern;
    std::uint64_t top = reinterpret_cast<std::uint64_t>(block) + kBlockBytes - 64;
    auto before = fault_containment_statistics();
    g_off_stack_callee_ran = false;
    bool below_the_stack = false;
    auto fault = fault_in_a_task("off-stack-call", [call_off, top, &below_the_stack] {
        below_the_stack = top < scheduler::current_task()->m_stack.bottom();
        call_off(top, off_stack_callee);
        return 0;
    });
    // How far below the wrong rsp the trap's frame and the containment hook wrote.
    std::size_t lowest_written = kBlockBytes;
    for (std::size_t i = 0; i < kBlockBytes; ++i) {
        if (block[i] != kPattern) {
            lowest_written = i;
            break;
        }
    }
    memory::heap_free(block);
    SELFTEST_CHECK(!fault.is_error());
    SELFTEST_CHECK(below_the_stack);
    SELFTEST_CHECK(!g_off_stack_callee_ran);
    SELFTEST_CHECK(fault.value().vector == kStackOverflowVector);
    SELFTEST_CHECK(fault.value().frames == 0);
    std::uint64_t call_site = fault.value().instruction_pointer, helper = reinterpret_cast<std::uint64_t>(call_off);
    SELFTEST_CHECK(call_site > helper && call_site < helper + 16);  // inside its `call *%rsi`
    SELFTEST_CHECK(g_destroyed == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    SELFTEST_CHECK(lowest_written > 0 && lowest_written < kBlockBytes - 64);
    kprint("selftest: the off-stack trap and its containment wrote {} bytes below the wrong stack pointer\n",
           kBlockBytes - 64 - lowest_written);
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    return {};
}

// A cell called through the gate returns to a zero word with rsp in a heap block (the campaign's
// `ret $0x4c08`): an instruction fetch at 0, off the task's stack, inside an open gate call. The
// task ends Faulted (no frames, no cleanups), the fault log blames the called function, the heap
// and the frames are back to their baseline. (Before: "the stack pointer is outside the task's
// stack", the guest stopped.)
ErrorOr<void> jump_to_no_code_off_the_stack_in_a_cell_call_ends_the_task()
{
    TRY(load_runaway());
    auto return_off = TRY(runaway_symbol<void (*)(std::uint64_t)>("runaway_return_off_the_stack"));
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    constexpr std::size_t kBlockBytes = 32 * 1024;
    auto* block = static_cast<std::uint8_t*>(memory::heap_allocate(kBlockBytes, 16));
    SELFTEST_CHECK(block != nullptr);
    std::uint64_t top = reinterpret_cast<std::uint64_t>(block) + kBlockBytes - 64;
    auto before = fault_containment_statistics();
    auto fault = fault_in_a_task("off-stack-jump", [return_off, top] {
        (void)delos_cell_call_gate(reinterpret_cast<const void*>(return_off), top, 0, 0, 0);
        return 0;
    });
    memory::heap_free(block);
    SELFTEST_CHECK(!fault.is_error());
    SELFTEST_CHECK(fault.value().vector == 14);
    SELFTEST_CHECK(fault.value().instruction_pointer == 0);
    SELFTEST_CHECK(fault.value().frames == 0);
    SELFTEST_CHECK(g_destroyed == 0);
    auto after = fault_containment_statistics();
    SELFTEST_CHECK(after.contained == before.contained + 1 && after.refused == before.refused);
    FaultLogEntry entries[1];
    SELFTEST_CHECK(copy_recent_faults(entries, 1) == 1);
    SELFTEST_CHECK(entries[0].skipped_call_target == reinterpret_cast<std::uint64_t>(return_off));
    stack_cache::release_all();
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    return {};
}

// The count of task::Mutex locks a task holds (what decides whether it may end without an
// unwind) follows lock, try_lock and unlock.
ErrorOr<void> mutex_count_follows_the_locks_held()
{
    Task* self = scheduler::current_task();
    SELFTEST_CHECK(self != nullptr);
    std::uint32_t at_start = self->m_mutexes_held;
    Mutex first, second;
    first.lock();
    SELFTEST_CHECK(self->m_mutexes_held == at_start + 1);
    SELFTEST_CHECK(second.try_lock());
    SELFTEST_CHECK(self->m_mutexes_held == at_start + 2);
    SELFTEST_CHECK(!second.try_lock());  // taken: refused, and not counted again
    SELFTEST_CHECK(self->m_mutexes_held == at_start + 2);
    second.unlock();
    first.unlock();
    SELFTEST_CHECK(self->m_mutexes_held == at_start);
    return {};
}

ErrorOr<void> runaway_cell_unloads()
{
    if (loader::cell_manager().is_loaded("runaway"))
        TRY(loader::cell_manager().unload("runaway"));
    SELFTEST_CHECK(!loader::cell_manager().is_loaded("runaway"));
    return {};
}

} // namespace

extern const TestCase kFaultTests[] = {
    {"faults", "kernel_frame_table_is_registered", kernel_frame_table_is_registered},
    {"faults", "null_write_is_unwound", null_write_is_unwound},
    {"faults", "invalid_opcode_is_unwound", invalid_opcode_is_unwound},
    {"faults", "divide_error_is_unwound", divide_error_is_unwound},
    {"faults", "breakpoint_is_unwound", breakpoint_is_unwound},
    {"faults", "repeated_faults_leak_nothing", repeated_faults_leak_nothing},
    {"faults", "foreign_pointer_freed_is_a_task_fault", foreign_pointer_freed_is_a_task_fault},
    {"faults", "impossible_allocation_is_a_task_fault", impossible_allocation_is_a_task_fault},
    {"faults", "heap_overflow_is_a_task_fault", heap_overflow_is_a_task_fault},
    {"faults", "garbage_flags_in_a_task_cost_only_that_task", garbage_flags_in_a_task_cost_only_that_task},
    {"faults", "a_returned_object_is_charged_to_the_callers_call", a_returned_object_is_charged_to_the_callers_call},
    {"faults", "an_int_instruction_is_a_task_fault", an_int_instruction_is_a_task_fault},
    {"faults", "call_ownership_releases_what_a_faulted_call_left", call_ownership_releases_what_a_faulted_call_left},
    {"faults", "call_ownership_releases_what_a_returned_call_left", call_ownership_releases_what_a_returned_call_left},
    {"faults", "call_ownership_refuses_a_reply_the_call_did_not_map", call_ownership_refuses_a_reply_the_call_did_not_map},
    {"faults", "call_ownership_releases_runs_by_its_record", call_ownership_releases_runs_by_its_record},
    {"faults", "cell_call_gate_restores_and_withholds_registers", cell_call_gate_restores_and_withholds_registers},
    {"faults", "cell_call_gate_restores_from_its_save_area", cell_call_gate_restores_from_its_save_area},
    {"faults", "call_ownership_follows_a_reloaded_cell", call_ownership_follows_a_reloaded_cell},
    {"faults", "noexcept_frame_is_unwound_through", noexcept_frame_is_unwound_through},
    {"faults", "fault_inside_a_cell_is_unwound_and_named", fault_inside_a_cell_is_unwound_and_named},
    {"faults", "fault_in_a_cell_init_fails_its_load", fault_in_a_cell_init_fails_its_load},
    {"faults", "stack_overflow_in_a_cell_is_unwound", stack_overflow_in_a_cell_is_unwound},
    {"faults", "stack_overflow_in_the_kernel_is_unwound", stack_overflow_in_the_kernel_is_unwound},
    {"faults", "watchdog_unwinds_a_task_looping_in_a_cell", watchdog_unwinds_a_task_looping_in_a_cell},
    {"faults", "watchdog_budget_per_cell", watchdog_budget_per_cell},
    {"faults", "watchdog_leaves_kernel_code_alone", watchdog_leaves_kernel_code_alone},
    {"faults", "deadlock_on_two_cell_locks_unwinds_one_task", deadlock_on_two_cell_locks_unwinds_one_task},
    {"faults", "long_cell_lock_wait_within_budget_is_left_alone", long_cell_lock_wait_within_budget_is_left_alone},
    {"faults", "lock_wait_past_budget_is_unwound_and_event_waits_are_not", lock_wait_past_budget_is_unwound_and_event_waits_are_not},
    {"faults", "deadlock_closed_by_a_kernel_wait_unwinds_the_cell_waiter", deadlock_closed_by_a_kernel_wait_unwinds_the_cell_waiter},
    {"faults", "spin_lock_count_follows_the_locks_held", spin_lock_count_follows_the_locks_held},
    {"faults", "masked_fault_in_a_cell_without_a_spin_lock_is_unwound", masked_fault_in_a_cell_without_a_spin_lock_is_unwound},
    {"faults", "masked_fault_in_a_cell_while_a_load_is_midway_is_unwound", masked_fault_in_a_cell_while_a_load_is_midway_is_unwound},
    {"faults", "call_ownership_reads_nothing_of_its_caller_under_its_lock", call_ownership_reads_nothing_of_its_caller_under_its_lock},
    {"faults", "spin_on_a_lock_nobody_releases_is_a_task_fault", spin_on_a_lock_nobody_releases_is_a_task_fault},
    {"faults", "fault_in_a_cells_cleanup_abandons_that_frame", fault_in_a_cells_cleanup_abandons_that_frame},
    {"faults", "endless_cleanup_in_a_cell_is_abandoned_by_the_watchdog", endless_cleanup_in_a_cell_is_abandoned_by_the_watchdog},
    {"faults", "fault_in_a_cell_without_a_return_path_ends_the_task", fault_in_a_cell_without_a_return_path_ends_the_task},
    {"faults", "double_fault_in_a_cell_ends_the_task", double_fault_in_a_cell_ends_the_task},
    {"faults", "call_with_the_stack_pointer_in_the_heap_ends_the_task", call_with_the_stack_pointer_in_the_heap_ends_the_task},
    {"faults", "jump_to_no_code_off_the_stack_in_a_cell_call_ends_the_task", jump_to_no_code_off_the_stack_in_a_cell_call_ends_the_task},
    {"faults", "mutex_count_follows_the_locks_held", mutex_count_follows_the_locks_held},
    {"faults", "runaway_cell_unloads", runaway_cell_unloads},
};
extern const std::size_t kFaultTestCount = sizeof kFaultTests / sizeof kFaultTests[0];

} // namespace delos::selftest
