// cxx_runtime.cpp: what compiled C++ expects from its runtime: operator new/delete on the
// kernel heap, pure-virtual and abort traps, static destructor registration, and the
// unwinder entry points that -fexceptions code references (those live in unwinder.cpp).
#include <cstddef>
#include <cstdint>
#include <new>

#include "runtime/cxx_runtime.h"
#include "arch/x86_64/cpu.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "memory/call_ownership.h"
#include "memory/heap.h"

using delos::memory::heap_allocate;
using delos::memory::heap_free;

namespace {
// `caller` is the code that called operator new: an open call's ledger records what the cell's
// own code allocates (memory/call_ownership.h).
[[gnu::always_inline]] inline void* allocate_charged(std::size_t size, std::size_t alignment, const void* caller)
{
    void* pointer = heap_allocate(size, alignment);
    delos::memory::charge_object_to_call(pointer, caller);
    return pointer;
}

void* allocate_or_panic(std::size_t size, std::size_t alignment, const void* caller)
{
    void* pointer = allocate_charged(size, alignment, caller);
    if (pointer)
        return pointer;
    // With interrupts on (task context, no spin lock held) it is the asking task's failure — a
    // corrupted size asks for more than there is — and nothing was allocated: an invalid opcode
    // here is contained like any CPU exception of the task (recovery/fault_containment.h), which
    // is unwound and ends Faulted. With interrupts masked it stays a panic.
    if (delos::cpu::interrupts_enabled()) {
        delos::kprint("out of memory: operator new could not allocate {} bytes: a fault of the calling task\n", size);
        __builtin_trap();
    }
    delos::panic("out of memory: operator new could not allocate");
}
} // namespace

#define DELOS_CALLER __builtin_return_address(0)
void* operator new(std::size_t size) { return allocate_or_panic(size, 16, DELOS_CALLER); }
void* operator new[](std::size_t size) { return allocate_or_panic(size, 16, DELOS_CALLER); }
void* operator new(std::size_t size, std::align_val_t alignment) { return allocate_or_panic(size, static_cast<std::size_t>(alignment), DELOS_CALLER); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return allocate_or_panic(size, static_cast<std::size_t>(alignment), DELOS_CALLER); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_charged(size, 16, DELOS_CALLER); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_charged(size, 16, DELOS_CALLER); }
#undef DELOS_CALLER
void operator delete(void* pointer, const std::nothrow_t&) noexcept { heap_free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { heap_free(pointer); }
void operator delete(void* pointer) noexcept { heap_free(pointer); }
void operator delete[](void* pointer) noexcept { heap_free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { heap_free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { heap_free(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { heap_free(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { heap_free(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept { heap_free(pointer); }
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept { heap_free(pointer); }

namespace std {
const nothrow_t nothrow{};
// Reached when an exception would leave a noexcept function; Delos never throws, so only
// unwinding gone wrong gets here.
[[noreturn]] void terminate() noexcept { delos::panic("std::terminate() called"); }
} // namespace std

namespace delos::runtime {
// Static destructors of whoever is being initialised go here; the cell loader installs a
// handler while it runs a cell's constructors so they run again at unload. The kernel's own
// statics live forever.
AtExitHandler g_atexit_handler = nullptr;
void set_atexit_handler(AtExitHandler handler) { g_atexit_handler = handler; }
} // namespace delos::runtime

extern "C" {

void* __dso_handle = nullptr;

[[gnu::noinline]] int atexit(void (*function)())
{
    auto caller = reinterpret_cast<std::uint64_t>(__builtin_return_address(0));
    return delos::runtime::g_atexit_handler ? delos::runtime::g_atexit_handler(function, caller) : 0;
}

void __cxa_pure_virtual() { delos::panic("pure virtual function called"); }

[[noreturn]] void abort() { delos::panic("abort() called"); }

// _Unwind_Resume and __gxx_personality_v0, which -fexceptions code calls while unwinding, are
// the unwinder's (unwinder.cpp).

} // extern "C"
