// mmio_device_location.h: where a virtio-mmio device is, as `virtio_mmio.device=<size>@<address>:<irq>`
// announces it (Linux's and Firecracker's format). Pure parsing: host unit tests run it too.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::virtio {

inline constexpr StringView kMmioDeviceOption = "virtio_mmio.device";

struct MmioDeviceLocation {
    std::uint64_t base;
    std::uint64_t size;
    std::uint32_t irq;  // IOAPIC pin
};

// Parses "<size>[K|M]@<address>:<irq>"; numbers decimal or 0x-hex. Refuses a window smaller than
// the register file, an address that is not 4-byte aligned or wraps, and an irq beyond pin 23.
ErrorOr<MmioDeviceLocation> parse_mmio_device_location(StringView text);

} // namespace delos::virtio
