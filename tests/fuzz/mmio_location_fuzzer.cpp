// mmio_location_fuzzer.cpp: fuzz-mmio-location: the guest's parsers of what the VMM/QEMU put on
// the command line and in PORT_NAME (virtio_mmio.device values; port names). Whatever the
// bytes, an accepted location keeps the parser's promises and a port name stays inside the
// payload and the capacity.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "drivers/virtio/mmio_device_location.h"
#include "drivers/virtio/port_name.h"

using namespace delos;
using namespace delos::virtio;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto parsed = parse_mmio_device_location(StringView(reinterpret_cast<const char*>(data), size));
    if (!parsed.is_error()) {
        const MmioDeviceLocation& location = parsed.value();
        if (location.size < 0x200 || location.base % 4 != 0 || location.irq >= 24 ||
            location.base + location.size < location.base || location.base + location.size > (1ull << 46))
            std::abort();
    } else if (parsed.error().message == nullptr || parsed.error().message[0] == '\0') {
        std::abort();  // every refusal says why
    }
    for (std::size_t capacity : {std::size_t(0), std::size_t(1), std::size_t(64)}) {
        std::size_t length = port_name_length(ByteView(data, size), capacity);
        if (length > size || length > capacity)
            std::abort();
        for (std::size_t i = 0; i < length; ++i) {
            if (data[i] == 0)
                std::abort();  // the name stops at the first NUL
        }
    }
    return 0;
}
