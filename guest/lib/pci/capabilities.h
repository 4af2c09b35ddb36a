// capabilities.h: walking a function's capability list (PCI 3.0 §6.7) without trusting it: every
// pointer is bounds-checked and a list that loops or runs on is refused.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/pci/config_space.h"

namespace delos::pci {

inline constexpr std::uint8_t kCapabilityMsi = 0x05;
inline constexpr std::uint8_t kCapabilityVendor = 0x09;
inline constexpr std::uint8_t kCapabilityPciExpress = 0x10;
inline constexpr std::uint8_t kCapabilityMsix = 0x11;

// At most (256 - 64) / 4 capabilities fit in the standard header's capability area.
inline constexpr std::size_t kMaxCapabilities = 48;

struct Capability {
    std::uint8_t id;
    std::uint8_t offset;  // of its header in configuration space, 0x40..0xfc, 4-aligned
};

struct CapabilityList {
    Capability entries[kMaxCapabilities];
    std::size_t count = 0;

    // The first capability with `id` at or after index `from`, or nullptr.
    const Capability* find(std::uint8_t id, std::size_t from = 0) const;
};

// Reads the list of `address` (empty when the status register announces none). Refuses a
// pointer into the header (< 0x40), a loop, and more than kMaxCapabilities entries.
ErrorOr<void> read_capabilities(ConfigSpace& config, Address address, CapabilityList& out);

} // namespace delos::pci
