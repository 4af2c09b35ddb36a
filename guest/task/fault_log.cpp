// fault_log.cpp: the ring of recent faults, under a spin lock (recorded from the exception hook).
#include "task/fault_log.h"

#include "sync/spin_lock.h"

namespace delos::task {

namespace {

SpinLock g_lock;
FaultLogEntry g_entries[kFaultLogCapacity];
std::uint64_t g_recorded = 0;

} // namespace

void record_fault(const FaultLogEntry& entry)
{
    SpinLockGuard guard(g_lock);
    g_entries[g_recorded % kFaultLogCapacity] = entry;
    ++g_recorded;
}

std::size_t copy_recent_faults(FaultLogEntry* out, std::size_t capacity)
{
    SpinLockGuard guard(g_lock);
    std::uint64_t available = g_recorded < kFaultLogCapacity ? g_recorded : kFaultLogCapacity;
    std::uint64_t count = available < capacity ? available : capacity;
    for (std::uint64_t i = 0; i < count; ++i)
        out[i] = g_entries[(g_recorded - count + i) % kFaultLogCapacity];
    return static_cast<std::size_t>(count);
}

std::uint64_t faults_recorded()
{
    SpinLockGuard guard(g_lock);
    return g_recorded;
}

} // namespace delos::task
