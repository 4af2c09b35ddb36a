// memory_access.h: access to a device's memory-mapped registers (BAR regions). The guest reads
// and writes the uncached mapping; host tests put a device model behind the same interface.
#pragma once

#include <cstdint>

namespace delos::pci {

class MemoryAccess {
public:
    virtual ~MemoryAccess() = default;
    virtual std::uint8_t read8(std::uint64_t address) = 0;
    virtual std::uint16_t read16(std::uint64_t address) = 0;
    virtual std::uint32_t read32(std::uint64_t address) = 0;
    virtual void write8(std::uint64_t address, std::uint8_t value) = 0;
    virtual void write16(std::uint64_t address, std::uint16_t value) = 0;
    virtual void write32(std::uint64_t address, std::uint32_t value) = 0;
};

} // namespace delos::pci
