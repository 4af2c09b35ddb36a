// virtio_console_boundary.h: the connection boundary delos-vmm's virtio-console appends to each
// PORT_OPEN it sends for a port, so the driver can tell which received buffers belong to which
// host connection however late it looks at its rings. Dual-use: the VMM's device and the guest
// driver include this one header. See docs/virtio-console.md, "Connection boundaries".
#pragma once

#include <cstddef>
#include <cstdint>

namespace delos::virtio_console {

// After the 8-byte control header: le32 magic, le16 the port's receive-queue used index when the
// device published this PORT_OPEN, le16 zero. Every used entry before that index came from an
// earlier connection; every entry from it on, from this one (or a later one). The device delivers
// no data between a close and the next open, so one index marks both. Devices without it (QEMU)
// send a bare header; the driver then falls back to ordering by what it saw when (weaker).
inline constexpr std::uint32_t kBoundaryMagic = 0x42434c44;  // "DLCB"
inline constexpr std::size_t kBoundaryBytes = 8;

inline void encode_boundary(std::uint16_t used_index, std::uint8_t* out)
{
    std::uint32_t magic = kBoundaryMagic;
    std::uint16_t zero = 0;
    __builtin_memcpy(out, &magic, 4);
    __builtin_memcpy(out + 4, &used_index, 2);
    __builtin_memcpy(out + 6, &zero, 2);
}

// The boundary in a PORT_OPEN payload (what follows the header), if it carries one.
inline bool decode_boundary(const std::uint8_t* payload, std::size_t size, std::uint16_t& used_index)
{
    if (size < kBoundaryBytes)
        return false;
    std::uint32_t magic;
    std::uint16_t zero;
    __builtin_memcpy(&magic, payload, 4);
    __builtin_memcpy(&zero, payload + 6, 2);
    if (magic != kBoundaryMagic || zero != 0)
        return false;
    __builtin_memcpy(&used_index, payload + 4, 2);
    return true;
}

// Whether the used entry at `position` comes before `boundary` (both used indexes, which wrap at
// 2^16; a queue never holds more than 2^15 entries, so the nearer direction is the true one).
inline constexpr bool precedes_boundary(std::uint16_t position, std::uint16_t boundary)
{
    auto distance = static_cast<std::uint16_t>(boundary - position);
    return distance != 0 && distance <= 0x8000;
}

} // namespace delos::virtio_console
