// serial.cpp: console output. Every port access is a VM exit (~10 µs emulated, ~32 µs in
// kvm_pvm native mode), so: delos-vmm's log port when it answers (one exit per write), else
// COM1 with the FIFO enabled and the line status polled once per 16 bytes.
#include "platform/serial.h"

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
bool g_probed = false;
bool g_log_port = false;
bool g_fifo_enabled = false;
abi::LogPortRecord g_log_record;  // in .bss: below 4 GiB, as the 32-bit OUT needs
Listener g_listener = nullptr;

void write_locked(StringView text)
{
    if (!g_probed) {
        g_log_port = cpu::in32(abi::kLogPort) == abi::kLogPortMagic;
        g_probed = true;
    }
    if (g_log_port) {
        // The linear map is the identity, so virtual addresses are guest-physical ones.
        for (std::size_t i = 0; i < text.size(); i += abi::kLogPortMaxBytes) {
            std::size_t chunk = text.size() - i < abi::kLogPortMaxBytes ? text.size() - i : abi::kLogPortMaxBytes;
            g_log_record = {reinterpret_cast<std::uint64_t>(text.data() + i), static_cast<std::uint32_t>(chunk), 0};
            asm volatile("outl %0, %1" ::"a"(static_cast<std::uint32_t>(reinterpret_cast<std::uint64_t>(&g_log_record))),
                         "Nd"(abi::kLogPort)
                         : "memory");  // the VMM reads the record and the text during the exit
        }
        return;
    }
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
