// semaphore.h: a counting semaphore for tasks: acquire blocks while the count is zero.
#pragma once

#include <cstdint>

#include "sync/spin_lock.h"
#include "task/wait_queue.h"

namespace delos::task {

class Semaphore {
public:
    explicit Semaphore(std::uint64_t initial = 0) : m_count(initial) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    void acquire();
    bool try_acquire();
    void release(std::uint64_t count = 1);
    std::uint64_t count() const { return m_count; }

private:
    SpinLock m_lock;
    std::uint64_t m_count;
    WaitQueue m_waiters;
};

} // namespace delos::task
