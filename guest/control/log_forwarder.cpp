// log_forwarder.cpp: a byte ring filled by the serial listener and drained line by line.
#include "control/log_forwarder.h"

#include "arch/x86_64/tsc.h"
#include "platform/serial.h"
#include "sync/spin_lock.h"

namespace delos::control {

namespace {

constexpr std::size_t kRingBytes = 16 * 1024;
constexpr std::size_t kMaxLine = 1024;

char g_ring[kRingBytes];
std::size_t g_head = 0;  // next byte to write
std::size_t g_tail = 0;  // next byte to read
std::size_t g_dropped = 0;
bool g_skipping = false;  // the current line did not fit: drop up to its end
SpinLock g_lock;

void capture(StringView text)
{
    SpinLockGuard guard(g_lock);
    for (char c : text) {
        if (g_skipping) {
            g_skipping = c != '\n';
            continue;
        }
        std::size_t next = (g_head + 1) % kRingBytes;
        if (next == g_tail) {
            // Full: forget the partial line being written so only whole lines are forwarded.
            while (g_head != g_tail && g_ring[(g_head + kRingBytes - 1) % kRingBytes] != '\n')
                __atomic_store_n(&g_head, (g_head + kRingBytes - 1) % kRingBytes, __ATOMIC_RELAXED);
            ++g_dropped;
            g_skipping = c != '\n';
            continue;
        }
        g_ring[g_head] = c;
        __atomic_store_n(&g_head, next, __ATOMIC_RELEASE);
    }
}

channel::LogLevel level_named(StringView name)
{
    if (name.starts_with("debug"))
        return channel::LogLevel::Debug;
    if (name.starts_with("info"))
        return channel::LogLevel::Info;
    if (name.starts_with("warn"))
        return channel::LogLevel::Warn;
    if (name.starts_with("error"))
        return channel::LogLevel::Error;
    return channel::LogLevel::Info;
}

// "[info ] kv: ready" -> cell "kv", level Info, text "ready"; other lines belong to the kernel.
void parse_line(StringView text, channel::LogLine& line)
{
    line.cell = String("kernel");
    line.level = channel::LogLevel::Info;
    line.text = String(text);
    if (!text.starts_with("["))
        return;
    std::size_t close = text.find(']');
    if (close == StringView::npos)
        return;
    std::size_t colon = text.find(':', close);
    if (colon == StringView::npos || colon < close + 2)
        return;
    line.level = level_named(text.substr(1, close - 1));
    line.cell = String(text.substr(close + 2, colon - close - 2));
    line.text = String(text.substr(colon + 2 <= text.size() ? colon + 2 : text.size()));
}

} // namespace

void start_log_capture() { serial::set_listener(capture); }

bool take_log_line(channel::LogLine& line)
{
    // Empty (the usual case): no lock, so no cli/sti pair (two traps under kvm_pvm) per call.
    // A line completed right after this look waits for the next call, as one completed right
    // after the locked look would.
    if (__atomic_load_n(&g_head, __ATOMIC_ACQUIRE) == __atomic_load_n(&g_tail, __ATOMIC_RELAXED))
        return false;
    char text[kMaxLine];
    std::size_t length = 0;
    {
        SpinLockGuard guard(g_lock);
        std::size_t at = g_tail;
        while (at != g_head && g_ring[at] != '\n')
            at = (at + 1) % kRingBytes;
        if (at == g_head)
            return false;  // no complete line yet
        while (g_tail != at) {
            if (length < kMaxLine)
                text[length++] = g_ring[g_tail];
            g_tail = (g_tail + 1) % kRingBytes;
        }
        g_tail = (g_tail + 1) % kRingBytes;  // the '\n'
    }
    parse_line(StringView(text, length), line);
    line.timestamp_ns = tsc::nanoseconds_since_boot();
    return true;
}

std::size_t dropped_log_lines() { return g_dropped; }

} // namespace delos::control
