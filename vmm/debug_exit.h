// debug_exit.h: the guest's shutdown port: a write ends the VM with the written exit code.
#pragma once

#include <cstdint>
#include <optional>

#include "io_bus.h"

namespace delos::vmm {

class DebugExit final : public PortDevice {
public:
    void port_write(std::uint16_t, std::uint32_t value, std::uint8_t) override { m_exit_code = value & 0xff; }
    std::uint32_t port_read(std::uint16_t, std::uint8_t) override { return 0xffffffffu; }

    // Set once the guest has asked to stop.
    std::optional<int> exit_code() const { return m_exit_code; }

private:
    std::optional<int> m_exit_code;
};

} // namespace delos::vmm
