// bars.cpp: BAR sizing with decode disabled, assignment, and the first-fit address allocator.
#include "lib/pci/bars.h"

namespace delos::pci {

namespace {

constexpr std::uint32_t kBarIo = 1u << 0;
constexpr std::uint32_t kBarMemoryTypeMask = 3u << 1;
constexpr std::uint32_t kBarMemoryType32 = 0u << 1;
constexpr std::uint32_t kBarMemoryTypeBelow1M = 1u << 1;
constexpr std::uint32_t kBarMemoryType64 = 2u << 1;
constexpr std::uint32_t kBarPrefetchable = 1u << 3;

bool is_power_of_two(std::uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

std::uint16_t bar_offset(std::size_t index) { return static_cast<std::uint16_t>(reg::kBar0 + 4 * index); }

// Writes all ones, reads the mask back, restores the original value.
std::uint32_t size_mask(ConfigSpace& config, Address address, std::uint16_t offset, std::uint32_t original)
{
    config.write32(address, offset, 0xffffffffu);
    std::uint32_t mask = config.read32(address, offset);
    config.write32(address, offset, original);
    return mask;
}

ErrorOr<std::size_t> decode_bar(ConfigSpace& config, Address address, std::size_t index, std::size_t count, Bar* out)
{
    std::uint16_t offset = bar_offset(index);
    std::uint32_t original = config.read32(address, offset);
    Bar& bar = out[index];
    bar = {};
    if (original & kBarIo) {
        std::uint32_t mask = size_mask(config, address, offset, original) & ~3u;
        mask |= 0xffff0000u;  // x86 port space is 16 bits; many devices hardwire the top half to 0
        if ((mask & 0xffffu) == 0)
            return std::size_t{1};  // unimplemented
        std::uint32_t size = ~mask + 1;
        if (!is_power_of_two(size))
            return Error::make(ErrorCode::Malformed, "pci: I/O BAR size is not a power of two", index);
        bar.kind = BarKind::Io;
        bar.size = size;
        bar.address = original & 0xfffcu;
        if (bar.address & (size - 1))
            return Error::make(ErrorCode::Malformed, "pci: I/O BAR misaligned for its size", index);
        return std::size_t{1};
    }
    std::uint32_t type = original & kBarMemoryTypeMask;
    if (type == kBarMemoryTypeBelow1M || type == (3u << 1))
        return Error::make(ErrorCode::Unsupported, "pci: memory BAR of a reserved type", index);
    bar.prefetchable = original & kBarPrefetchable;
    std::uint64_t mask = size_mask(config, address, offset, original) & ~0xfu;
    std::uint64_t base = original & ~0xfu;
    std::size_t used = 1;
    if (type == kBarMemoryType64) {
        if (index + 1 >= count)
            return Error::make(ErrorCode::Malformed, "pci: 64-bit BAR in the last slot", index);
        std::uint16_t high_offset = bar_offset(index + 1);
        std::uint32_t high = config.read32(address, high_offset);
        mask |= std::uint64_t(size_mask(config, address, high_offset, high)) << 32;
        base |= std::uint64_t(high) << 32;
        bar.kind = BarKind::Memory64;
        used = 2;
    } else {
        if (mask == 0)
            return used;  // unimplemented
        mask |= 0xffffffff00000000ull;
        bar.kind = BarKind::Memory32;
    }
    if (mask == 0) {
        bar = {};
        return used;
    }
    std::uint64_t size = ~mask + 1;
    if (!is_power_of_two(size))
        return Error::make(ErrorCode::Malformed, "pci: memory BAR size is not a power of two", index);
    if (base & (size - 1))
        return Error::make(ErrorCode::Malformed, "pci: memory BAR misaligned for its size", index);
    if (base + size < base)
        return Error::make(ErrorCode::Malformed, "pci: memory BAR wraps around", index);
    bar.size = size;
    bar.address = base;
    return used;
}

} // namespace

ErrorOr<void> read_bars(ConfigSpace& config, Address address, std::size_t count, Bar* out)
{
    if (count > kMaxBars)
        return Error::make(ErrorCode::InvalidArgument, "pci: more than six BARs", count);
    for (std::size_t i = 0; i < count; ++i)
        out[i] = {};
    std::uint16_t command = config.read16(address, reg::kCommand);
    config.write16(address, reg::kCommand, command & ~(kCommandIoSpace | kCommandMemorySpace));
    ErrorOr<void> result;
    for (std::size_t index = 0; index < count;) {
        auto used = decode_bar(config, address, index, count, out);
        if (used.is_error()) {
            result = used.release_error();
            break;
        }
        index += used.value();
    }
    config.write16(address, reg::kCommand, command);
    return result;
}

ErrorOr<void> assign_bar(ConfigSpace& config, Address address, std::size_t index, Bar& bar, std::uint64_t base)
{
    if (!bar.is_memory() || index >= kMaxBars)
        return Error::make(ErrorCode::InvalidArgument, "pci: only memory BARs are assigned", index);
    if (!is_power_of_two(bar.size) || (base & (bar.size - 1)))
        return Error::make(ErrorCode::InvalidArgument, "pci: BAR address misaligned", base);
    if (bar.kind == BarKind::Memory32 && (base >> 32))
        return Error::make(ErrorCode::OutOfRange, "pci: 32-bit BAR above 4 GiB", base);
    std::uint16_t offset = bar_offset(index);
    std::uint32_t flags = config.read32(address, offset) & 0xfu;
    config.write32(address, offset, static_cast<std::uint32_t>(base) | flags);
    if (bar.kind == BarKind::Memory64)
        config.write32(address, static_cast<std::uint16_t>(offset + 4), static_cast<std::uint32_t>(base >> 32));
    std::uint64_t readback = config.read32(address, offset) & ~0xfu;
    if (bar.kind == BarKind::Memory64)
        readback |= std::uint64_t(config.read32(address, static_cast<std::uint16_t>(offset + 4))) << 32;
    if (readback != base)
        return Error::make(ErrorCode::Io, "pci: the BAR did not take its address", index);
    bar.address = base;
    return {};
}

ErrorOr<void> AddressAllocator::reserve(std::uint64_t start, std::uint64_t size)
{
    if (size == 0)
        return {};
    if (m_reserved_count == kMaxReserved)
        return Error::make(ErrorCode::OutOfMemory, "pci: too many reserved address ranges");
    std::uint64_t end = start + size < start ? ~0ull : start + size;
    m_reserved[m_reserved_count++] = {start, end};
    return {};
}

ErrorOr<std::uint64_t> AddressAllocator::allocate(std::uint64_t size)
{
    if (!is_power_of_two(size))
        return Error::make(ErrorCode::InvalidArgument, "pci: allocation size is not a power of two", size);
    std::uint64_t candidate = (m_start + size - 1) & ~(size - 1);
    while (candidate >= m_start && candidate + size > candidate && candidate + size <= m_end) {
        bool moved = false;
        for (std::size_t i = 0; i < m_reserved_count; ++i) {
            const Range& taken = m_reserved[i];
            if (candidate < taken.end && taken.start < candidate + size) {
                std::uint64_t next = (taken.end + size - 1) & ~(size - 1);
                if (next <= candidate)  // aligning up wrapped around
                    return Error::make(ErrorCode::OutOfMemory, "pci: no room for a BAR", size);
                candidate = next;
                moved = true;
            }
        }
        if (!moved) {
            TRY(reserve(candidate, size));
            return candidate;
        }
    }
    return Error::make(ErrorCode::OutOfMemory, "pci: no room for a BAR", size);
}

} // namespace delos::pci
