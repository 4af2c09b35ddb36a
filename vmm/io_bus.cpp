// io_bus.cpp: port range lookup.
#include "io_bus.h"

#include <stdexcept>

namespace delos::vmm {

void IoBus::attach(std::uint16_t base, std::uint16_t length, PortDevice& device)
{
    for (const auto& range : m_ranges) {
        if (base < range.base + range.length && range.base < base + length)
            throw std::logic_error("overlapping port ranges");
    }
    m_ranges.push_back({base, length, &device});
}

const IoBus::Range* IoBus::find(std::uint16_t port) const
{
    for (const auto& range : m_ranges) {
        if (port >= range.base && port - range.base < range.length)
            return &range;
    }
    return nullptr;
}

void IoBus::write(std::uint16_t port, std::uint32_t value, std::uint8_t size)
{
    if (const Range* range = find(port))
        range->device->port_write(static_cast<std::uint16_t>(port - range->base), value, size);
}

std::uint32_t IoBus::read(std::uint16_t port, std::uint8_t size)
{
    if (const Range* range = find(port))
        return range->device->port_read(static_cast<std::uint16_t>(port - range->base), size);
    return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

} // namespace delos::vmm
