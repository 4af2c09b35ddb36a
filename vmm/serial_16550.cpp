// serial_16550.cpp: UART register semantics; the transmitter is always ready.
#include "serial_16550.h"

#include <unistd.h>

#include <cerrno>

namespace delos::vmm {

namespace {
constexpr std::uint16_t kData = 0, kInterruptEnable = 1, kInterruptId = 2, kLineControl = 3, kModemControl = 4,
                        kLineStatus = 5, kModemStatus = 6, kScratch = 7;
constexpr std::uint8_t kDivisorLatchAccess = 0x80;
constexpr std::uint8_t kTransmitterEmpty = 0x60;  // THRE | TEMT
constexpr std::uint8_t kNoInterruptPending = 0x01;
constexpr std::uint8_t kFifosEnabled = 0xc0;
constexpr std::size_t kFlushThreshold = 4096;
} // namespace

void Serial16550::port_write(std::uint16_t offset, std::uint32_t value, std::uint8_t)
{
    auto byte = static_cast<std::uint8_t>(value);
    bool dlab = m_line_control & kDivisorLatchAccess;
    switch (offset) {
    case kData:
        if (dlab) {
            m_divisor_low = byte;
            return;
        }
        m_pending.push_back(static_cast<char>(byte));
        if (byte == '\n' || m_pending.size() >= kFlushThreshold)
            flush();
        return;
    case kInterruptEnable:
        if (dlab)
            m_divisor_high = byte;
        else
            m_interrupt_enable = byte & 0x0f;
        return;
    case kLineControl:
        m_line_control = byte;
        return;
    case kModemControl:
        m_modem_control = byte & 0x1f;
        return;
    case kScratch:
        m_scratch = byte;
        return;
    default:  // FIFO control and read-only registers
        return;
    }
}

std::uint32_t Serial16550::port_read(std::uint16_t offset, std::uint8_t)
{
    bool dlab = m_line_control & kDivisorLatchAccess;
    switch (offset) {
    case kData:
        return dlab ? m_divisor_low : 0;  // no input yet
    case kInterruptEnable:
        return dlab ? m_divisor_high : m_interrupt_enable;
    case kInterruptId:
        return kFifosEnabled | kNoInterruptPending;
    case kLineControl:
        return m_line_control;
    case kModemControl:
        return m_modem_control;
    case kLineStatus:
        return kTransmitterEmpty;
    case kModemStatus:
        return 0xb0;  // CTS, DSR, DCD: a connected line
    case kScratch:
        return m_scratch;
    default:
        return 0xff;
    }
}

void Serial16550::write_text(std::span<const std::uint8_t> bytes)
{
    m_pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if ((!bytes.empty() && bytes.back() == '\n') || m_pending.size() >= kFlushThreshold)
        flush();
}

void Serial16550::flush()
{
    std::size_t written = 0;
    while (written < m_pending.size()) {
        ssize_t n = ::write(m_fd, m_pending.data() + written, m_pending.size() - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;  // output closed: the guest keeps running, its output is dropped
        written += static_cast<std::size_t>(n);
    }
    m_pending.clear();
}

} // namespace delos::vmm
