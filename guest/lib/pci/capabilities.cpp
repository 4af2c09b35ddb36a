// capabilities.cpp: the checked capability-list walk.
#include "lib/pci/capabilities.h"

namespace delos::pci {

const Capability* CapabilityList::find(std::uint8_t id, std::size_t from) const
{
    for (std::size_t i = from; i < count; ++i) {
        if (entries[i].id == id)
            return &entries[i];
    }
    return nullptr;
}

ErrorOr<void> read_capabilities(ConfigSpace& config, Address address, CapabilityList& out)
{
    out.count = 0;
    if (!(config.read16(address, reg::kStatus) & kStatusCapabilities))
        return {};
    bool visited[64] = {};  // by offset / 4
    // The bottom two bits of every pointer are reserved (§6.7): masked, as the spec requires.
    std::uint8_t next = config.read8(address, reg::kCapabilityPointer) & 0xfc;
    while (next != 0) {
        if (next < 0x40)
            return Error::make(ErrorCode::Malformed, "pci: capability pointer into the standard header", next);
        if (visited[next / 4])
            return Error::make(ErrorCode::Malformed, "pci: capability list loops", next);
        if (out.count == kMaxCapabilities)
            return Error::make(ErrorCode::Malformed, "pci: capability list too long");
        visited[next / 4] = true;
        std::uint16_t header = config.read16(address, next);
        out.entries[out.count++] = {static_cast<std::uint8_t>(header & 0xff), next};
        next = static_cast<std::uint8_t>(header >> 8) & 0xfc;
    }
    return {};
}

} // namespace delos::pci
