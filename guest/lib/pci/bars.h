// bars.h: decoding and sizing a function's base address registers (PCI 3.0 §6.2.5.1), and a
// small allocator for memory BARs the firmware left unassigned. Sizes come from the device, so
// a mask that is not a power of two, a 64-bit BAR in the last slot or a misaligned address is refused.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/pci/config_space.h"

namespace delos::pci {

inline constexpr std::size_t kMaxBars = 6;

enum class BarKind : std::uint8_t {
    Unused,    // not implemented, or the upper half of a 64-bit BAR
    Io,
    Memory32,
    Memory64,
};

struct Bar {
    BarKind kind = BarKind::Unused;
    bool prefetchable = false;
    std::uint64_t address = 0;  // 0: memory BAR the firmware did not assign
    std::uint64_t size = 0;

    bool is_memory() const { return kind == BarKind::Memory32 || kind == BarKind::Memory64; }
};

// Sizes the first `count` BARs (6 for a general header, 2 for a bridge) by writing all ones and
// reading back, with I/O and memory decoding switched off meanwhile; restores every register.
ErrorOr<void> read_bars(ConfigSpace& config, Address address, std::size_t count, Bar* out);

// Writes `base` into memory BAR `index` (both halves of a 64-bit one). `bar` is the decoded BAR.
ErrorOr<void> assign_bar(ConfigSpace& config, Address address, std::size_t index, Bar& bar, std::uint64_t base);

// First-fit, naturally aligned placement of BARs inside [window_start, window_end) around ranges
// already in use (firmware-assigned BARs, the ECAM window, interrupt controllers).
class AddressAllocator {
public:
    static constexpr std::size_t kMaxReserved = 64;

    AddressAllocator(std::uint64_t window_start, std::uint64_t window_end) : m_start(window_start), m_end(window_end) {}

    // Marks [start, start + size) as taken. Fails when the table is full.
    ErrorOr<void> reserve(std::uint64_t start, std::uint64_t size);
    // A free range of `size` bytes (a power of two), aligned to `size`, now reserved.
    ErrorOr<std::uint64_t> allocate(std::uint64_t size);

private:
    struct Range {
        std::uint64_t start, end;
    };
    std::uint64_t m_start, m_end;
    Range m_reserved[kMaxReserved] = {};
    std::size_t m_reserved_count = 0;
};

} // namespace delos::pci
