// fault_log.cpp: the ring of recent faults, under a spin lock (recorded from the exception hook).
#include "recovery/fault_log.h"

#include "debug/kernel_symbols.h"
#include "sync/spin_lock.h"

namespace delos::task {

namespace {

SpinLock g_lock;
FaultLogEntry g_entries[kFaultLogCapacity];
std::uint64_t g_recorded = 0;

template <std::size_t N>
void copy_name(char (&out)[N], StringView name)
{
    std::size_t size = name.size() < N - 1 ? name.size() : N - 1;
    for (std::size_t i = 0; i < size; ++i)
        out[i] = name[i];
    out[size] = '\0';
}

} // namespace

void describe_fault_code(FaultLogCode& code, std::uint64_t address, std::uint64_t lookup_address)
{
    code = {};
    code.address = address;
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    if (!kernel_symbols::symbolize(lookup_address, symbol, owner))
        return;
    code.symbol_offset = address - symbol.address;
    copy_name(code.symbol, symbol.display_name);
    copy_name(code.owner, owner.name);
    copy_name(code.version, owner.version);
}

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

bool copy_fault_after(std::uint64_t after, FaultLogEntry& out)
{
    SpinLockGuard guard(g_lock);
    std::uint64_t available = g_recorded < kFaultLogCapacity ? g_recorded : kFaultLogCapacity;
    for (std::uint64_t i = g_recorded - available; i < g_recorded; ++i) {
        const FaultLogEntry& entry = g_entries[i % kFaultLogCapacity];
        if (entry.sequence > after) {
            out = entry;
            return true;
        }
    }
    return false;
}

std::uint64_t faults_recorded()
{
    SpinLockGuard guard(g_lock);
    return g_recorded;
}

} // namespace delos::task
