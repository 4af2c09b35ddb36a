// boot_timer.h: the guest writes this port when it is ready; we report the time since VMM start.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "io_bus.h"

namespace delos::vmm {

class BootTimer final : public PortDevice {
public:
    using Clock = std::chrono::steady_clock;
    explicit BootTimer(Clock::time_point vmm_start) : m_vmm_start(vmm_start) {}

    void port_write(std::uint16_t, std::uint32_t, std::uint8_t) override;
    std::uint32_t port_read(std::uint16_t, std::uint8_t) override { return 0xffffffffu; }

    std::optional<double> ready_after_ms() const { return m_ready_after_ms; }

private:
    Clock::time_point m_vmm_start;
    std::optional<double> m_ready_after_ms;
};

} // namespace delos::vmm
