// io_bus.h: dispatch of guest port I/O to the devices registered for each port range.
#pragma once

#include <cstdint>
#include <vector>

namespace delos::vmm {

class PortDevice {
public:
    virtual ~PortDevice() = default;
    // `offset` is relative to the range the device registered; `size` is 1, 2 or 4 bytes.
    virtual void port_write(std::uint16_t offset, std::uint32_t value, std::uint8_t size) = 0;
    virtual std::uint32_t port_read(std::uint16_t offset, std::uint8_t size) = 0;
};

class IoBus {
public:
    void attach(std::uint16_t base, std::uint16_t length, PortDevice& device);

    // Unclaimed ports read as all ones and ignore writes, as on a PC; the guest cannot make
    // the VMM fail by probing.
    void write(std::uint16_t port, std::uint32_t value, std::uint8_t size);
    std::uint32_t read(std::uint16_t port, std::uint8_t size);

private:
    struct Range {
        std::uint16_t base;
        std::uint16_t length;
        PortDevice* device;
    };
    const Range* find(std::uint16_t port) const;

    std::vector<Range> m_ranges;
};

} // namespace delos::vmm
