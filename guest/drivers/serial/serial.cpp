// serial.cpp: COM1 output. The FIFO is enabled and the line status polled once per 16 bytes,
// because every port access is a VM exit (~10 µs on a nested host).
#include "drivers/serial/serial.h"

#include "abi/platform.h"
#include "arch/x86_64/cpu.h"
#include "sync/spin_lock.h"

namespace delos::serial {

namespace {

constexpr std::uint16_t kData = abi::kCom1Port;
constexpr std::uint16_t kFifoControl = abi::kCom1Port + 2;
constexpr std::uint16_t kLineStatus = abi::kCom1Port + 5;
constexpr std::uint8_t kTransmitterHoldingEmpty = 0x20;
constexpr std::size_t kFifoDepth = 16;

SpinLock g_lock;
bool g_fifo_enabled = false;
Listener g_listener = nullptr;

void write_locked(StringView text)
{
    if (!g_fifo_enabled) {
        cpu::out8(kFifoControl, 0x07);  // enable and clear both FIFOs
        g_fifo_enabled = true;
    }
    std::size_t i = 0;
    while (i < text.size()) {
        while (!(cpu::in8(kLineStatus) & kTransmitterHoldingEmpty))
            cpu::pause();
        // One string OUT fills the FIFO: a single exit for up to 16 bytes. Lines end in a bare
        // '\n' (no '\r'); hosts translate.
        std::size_t burst = text.size() - i < kFifoDepth ? text.size() - i : kFifoDepth;
        const char* bytes = text.data() + i;
        asm volatile("rep outsb" : "+S"(bytes), "+c"(burst) : "d"(kData) : "memory");
        i = static_cast<std::size_t>(bytes - text.data());
    }
}

} // namespace

void write(StringView text)
{
    SpinLockGuard guard(g_lock);
    write_locked(text);
    if (g_listener)
        g_listener(text);
}

void set_listener(Listener listener)
{
    SpinLockGuard guard(g_lock);
    g_listener = listener;
}

} // namespace delos::serial
