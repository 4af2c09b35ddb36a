// mmio_bus.cpp: MMIO range lookup.
#include "mmio_bus.h"

#include <cstring>
#include <stdexcept>

namespace delos::vmm {

void MmioBus::attach(std::uint64_t base, std::uint64_t length, MmioDevice& device)
{
    if (length == 0 || base + length < base)
        throw std::logic_error("empty or wrapping MMIO range");
    for (const auto& range : m_ranges) {
        if (base < range.base + range.length && range.base < base + length)
            throw std::logic_error("overlapping MMIO ranges");
    }
    m_ranges.push_back({base, length, &device});
}

const MmioBus::Range* MmioBus::find(std::uint64_t address, std::uint64_t size) const
{
    for (const auto& range : m_ranges) {
        if (address >= range.base && address - range.base < range.length && size <= range.length - (address - range.base))
            return &range;
    }
    return nullptr;
}

void MmioBus::read(std::uint64_t address, std::span<std::uint8_t> data)
{
    if (const Range* range = find(address, data.size()))
        range->device->mmio_read(address - range->base, data);
    else
        std::memset(data.data(), 0xff, data.size());
}

void MmioBus::write(std::uint64_t address, std::span<const std::uint8_t> data)
{
    if (const Range* range = find(address, data.size()))
        range->device->mmio_write(address - range->base, data);
}

} // namespace delos::vmm
