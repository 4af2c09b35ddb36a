// cell_mutex.h: a cell's sleeping lock: the kernel's task::Mutex behind the cell ABI (four C
// functions in cell_kernel_interface.txt), and a C++ wrapper and guard for cells. A task of a
// cell that waits for one of these in a deadlock (a cycle of waits) or longer than the lock-wait
// budget is unwound from its wait as a DEADLOCK fault, its guards releasing what it held
// (docs/deadlocks.md). Storage is the cell's (a static or a member): no allocation.
#pragma once

extern "C" {

struct delos_cell_mutex {
    alignas(8) unsigned char opaque[48];
};

// Makes `mutex` an unlocked lock (before any other use).
void delos_cell_mutex_init(delos_cell_mutex* mutex);
// Waits until the calling task holds `mutex` (a task may not lock it twice). May not return: the
// wait is ended in a deadlock and the task unwound from here.
void delos_cell_mutex_lock(delos_cell_mutex* mutex);
bool delos_cell_mutex_try_lock(delos_cell_mutex* mutex);
// Only the holder may unlock.
void delos_cell_mutex_unlock(delos_cell_mutex* mutex);
}

namespace delos::cell {

class Mutex {
public:
    Mutex() { delos_cell_mutex_init(&m_mutex); }
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;
    void lock() { delos_cell_mutex_lock(&m_mutex); }
    bool try_lock() { return delos_cell_mutex_try_lock(&m_mutex); }
    void unlock() { delos_cell_mutex_unlock(&m_mutex); }

private:
    delos_cell_mutex m_mutex;
};

class MutexGuard {
public:
    explicit MutexGuard(Mutex& mutex) : m_mutex(mutex) { m_mutex.lock(); }
    ~MutexGuard() { m_mutex.unlock(); }
    MutexGuard(const MutexGuard&) = delete;
    MutexGuard& operator=(const MutexGuard&) = delete;

private:
    Mutex& m_mutex;
};

} // namespace delos::cell
