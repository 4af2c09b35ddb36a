// serial_16550.h: a 16550 UART (transmit side and the registers a driver probes), to an fd.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "io_bus.h"

namespace delos::vmm {

class Serial16550 final : public PortDevice {
public:
    static constexpr std::uint16_t kRegisterCount = 8;

    // Output goes to `fd` (not owned), buffered per line so a busy guest costs few syscalls.
    explicit Serial16550(int fd) : m_fd(fd) {}
    ~Serial16550() override { flush(); }

    void port_write(std::uint16_t offset, std::uint32_t value, std::uint8_t size) override;
    std::uint32_t port_read(std::uint16_t offset, std::uint8_t size) override;
    void flush();
    // Console bytes from elsewhere (the log port), in order with the UART's.
    void write_text(std::span<const std::uint8_t> bytes);

private:
    int m_fd;
    std::string m_pending;
    std::uint8_t m_interrupt_enable = 0;
    std::uint8_t m_line_control = 0x03;
    std::uint8_t m_modem_control = 0;
    std::uint8_t m_scratch = 0;
    std::uint8_t m_divisor_low = 1;
    std::uint8_t m_divisor_high = 0;
};

} // namespace delos::vmm
