// fault_log.cpp: the ring of recent faults, under a spin lock (recorded from the exception hook).
#include "recovery/fault_log.h"

#include "debug/kernel_symbols.h"
#include "sync/spin_lock.h"

namespace delos::task {

namespace {

SpinLock g_lock;
FaultLogEntry g_entries[kFaultLogCapacity];
std::uint64_t g_recorded = 0;
FaultRecordedListener g_listener = nullptr;

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

void describe_fault_place(FaultLogPlace& place, std::uint64_t address)
{
    place = {};
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    if (!kernel_symbols::symbolize(address, symbol, owner) || owner.section.empty())
        return;
    copy_name(place.build_id, owner.build_id);
    copy_name(place.section, owner.section);
    place.section_offset = address - symbol.address;  // cell symbols are their function's section
}

namespace {

bool cpu_has_rdrand()
{
    std::uint32_t eax = 1, ebx, ecx = 0, edx;
    asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    return (ecx >> 30) & 1;
}

std::uint64_t random_word(std::uint64_t& fallback_state)
{
    if (cpu_has_rdrand()) {
        for (int tries = 0; tries < 10; ++tries) {
            std::uint64_t value;
            unsigned char ok;
            asm volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
            if (ok)
                return value;
        }
    }
    // splitmix64 over the TSC: unique enough per boot where there is no RDRAND.
    std::uint32_t low, high;
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    fallback_state += ((std::uint64_t(high) << 32) | low) + 0x9e3779b97f4a7c15ull;
    std::uint64_t z = fallback_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

} // namespace

namespace {

// Two buffers: a renewal writes the one not in use, then publishes it, so a reader that took the
// old pointer still reads a whole id.
char g_boot_ids[2][33] = {};
int g_current_boot_id = -1;  // -1 until the first draw
std::uint64_t g_renewals = 0;

void draw_boot_id(char (&out)[33], std::uint64_t state)
{
    constexpr char kHex[] = "0123456789abcdef";
    for (int word = 0; word < 2; ++word) {
        std::uint64_t value = random_word(state);
        for (int i = 0; i < 16; ++i)
            out[word * 16 + i] = kHex[(value >> (60 - 4 * i)) & 15];
    }
    out[32] = '\0';
}

} // namespace

const char* boot_id()
{
    SpinLockGuard guard(g_lock);
    if (g_current_boot_id < 0) {
        draw_boot_id(g_boot_ids[0], 0);
        __atomic_store_n(&g_current_boot_id, 0, __ATOMIC_RELEASE);
    }
    return g_boot_ids[g_current_boot_id];
}

const char* renew_boot_id(StringView salt)
{
    // FNV-1a of the salt (the host's per-clone value) and a renewal count, mixed into the fallback
    // state: without RDRAND two clones restored at the same saved TSC still draw different ids.
    std::uint64_t state = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < salt.size(); ++i)
        state = (state ^ static_cast<std::uint8_t>(salt[i])) * 0x100000001b3ull;
    SpinLockGuard guard(g_lock);
    state ^= ++g_renewals * 0x9e3779b97f4a7c15ull;
    int next = g_current_boot_id == 0 ? 1 : 0;
    draw_boot_id(g_boot_ids[next], state);
    __atomic_store_n(&g_current_boot_id, next, __ATOMIC_RELEASE);
    return g_boot_ids[next];
}

void record_fault(const FaultLogEntry& entry)
{
    {
        SpinLockGuard guard(g_lock);
        g_entries[g_recorded % kFaultLogCapacity] = entry;
        ++g_recorded;
    }
    if (FaultRecordedListener listener = __atomic_load_n(&g_listener, __ATOMIC_ACQUIRE))
        listener();
}

void set_fault_recorded_listener(FaultRecordedListener listener) { __atomic_store_n(&g_listener, listener, __ATOMIC_RELEASE); }

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
