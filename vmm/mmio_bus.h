// mmio_bus.h: dispatch of guest MMIO exits to the devices registered for each address range.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace delos::vmm {

class MmioDevice {
public:
    virtual ~MmioDevice() = default;
    // `offset` is relative to the range the device registered; `data` is 1 to 8 bytes, little-endian.
    virtual void mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) = 0;
    virtual void mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
};

class MmioBus {
public:
    // Throws std::logic_error when the range overlaps one already attached.
    void attach(std::uint64_t base, std::uint64_t length, MmioDevice& device);

    // Unclaimed addresses read as all ones and ignore writes; accesses that straddle the end of
    // a device's range are treated as unclaimed. The guest cannot make the VMM fail by probing.
    void read(std::uint64_t address, std::span<std::uint8_t> data);
    void write(std::uint64_t address, std::span<const std::uint8_t> data);

private:
    struct Range {
        std::uint64_t base;
        std::uint64_t length;
        MmioDevice* device;
    };
    const Range* find(std::uint64_t address, std::uint64_t size) const;

    std::vector<Range> m_ranges;
};

} // namespace delos::vmm
