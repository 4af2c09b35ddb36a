// cell_mutex.cpp: the cell ABI's sleeping lock (abi/cell_mutex.h) over task::Mutex; a cell's lock
// waits are the ones a deadlock may end (lock_waits.h).
#include "abi/cell_mutex.h"

#include <new>

#include "task/mutex.h"

namespace {

delos::task::Mutex& mutex_of(delos_cell_mutex* mutex) { return *std::launder(reinterpret_cast<delos::task::Mutex*>(mutex->opaque)); }

} // namespace

static_assert(sizeof(delos::task::Mutex) <= sizeof(delos_cell_mutex::opaque));
static_assert(alignof(delos::task::Mutex) <= alignof(delos_cell_mutex));

extern "C" void delos_cell_mutex_init(delos_cell_mutex* mutex) { new (mutex->opaque) delos::task::Mutex(); }

// noinline: the return address is the cell's call, which the wait names and the rule checks.
extern "C" [[gnu::noinline]] void delos_cell_mutex_lock(delos_cell_mutex* mutex)
{
    mutex_of(mutex).lock_for_cell(reinterpret_cast<std::uint64_t>(__builtin_return_address(0)));
}

extern "C" bool delos_cell_mutex_try_lock(delos_cell_mutex* mutex) { return mutex_of(mutex).try_lock(); }

extern "C" void delos_cell_mutex_unlock(delos_cell_mutex* mutex) { mutex_of(mutex).unlock(); }
