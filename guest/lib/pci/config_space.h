// config_space.h: PCI configuration space: function addresses, register offsets and the access
// interface that port I/O (CF8/CFC), ECAM and host test models implement.
#pragma once

#include <cstdint>

namespace delos::pci {

struct Address {
    std::uint8_t bus = 0;
    std::uint8_t device = 0;    // 0..31
    std::uint8_t function = 0;  // 0..7

    friend bool operator==(const Address&, const Address&) = default;
};

inline constexpr std::uint8_t kDevicesPerBus = 32;
inline constexpr std::uint8_t kFunctionsPerDevice = 8;
inline constexpr std::uint16_t kNoVendor = 0xffff;  // what an absent function reads as

// Type 0 and type 1 header registers (PCI Local Bus 3.0 §6.1, PCI-to-PCI Bridge 1.2 §3.2).
namespace reg {
inline constexpr std::uint16_t kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06,
                               kRevision = 0x08, kProgIf = 0x09, kSubclass = 0x0a, kClass = 0x0b,
                               kHeaderType = 0x0e, kBar0 = 0x10, kSubsystemId = 0x2e,
                               kCapabilityPointer = 0x34, kInterruptLine = 0x3c, kInterruptPin = 0x3d;
// Type 1 (bridge) registers.
inline constexpr std::uint16_t kPrimaryBus = 0x18, kSecondaryBus = 0x19, kSubordinateBus = 0x1a,
                               kMemoryBase = 0x20, kMemoryLimit = 0x22;
} // namespace reg

inline constexpr std::uint16_t kCommandIoSpace = 1u << 0;
inline constexpr std::uint16_t kCommandMemorySpace = 1u << 1;
inline constexpr std::uint16_t kCommandBusMaster = 1u << 2;
inline constexpr std::uint16_t kCommandInterruptDisable = 1u << 10;
inline constexpr std::uint16_t kStatusCapabilities = 1u << 4;

inline constexpr std::uint8_t kHeaderTypeMask = 0x7f;
inline constexpr std::uint8_t kHeaderMultifunction = 0x80;
inline constexpr std::uint8_t kHeaderGeneral = 0;
inline constexpr std::uint8_t kHeaderBridge = 1;

// Configuration space of every function reachable through one mechanism. Offsets are byte
// offsets; implementations ignore (read all ones, drop writes) accesses beyond extent() or not
// naturally aligned. Everything read is device-controlled: callers check what they use.
class ConfigSpace {
public:
    virtual ~ConfigSpace() = default;

    // 256 for port I/O (CF8/CFC), 4096 for ECAM.
    virtual std::uint16_t extent() const = 0;
    virtual std::uint32_t read32(Address address, std::uint16_t offset) = 0;
    virtual void write32(Address address, std::uint16_t offset, std::uint32_t value) = 0;
    // A 16-bit write touches only its two bytes (the status register next to the command
    // register clears bits written as one).
    virtual void write16(Address address, std::uint16_t offset, std::uint16_t value) = 0;

    std::uint16_t read16(Address address, std::uint16_t offset)
    {
        return static_cast<std::uint16_t>(read32(address, offset & ~3u) >> ((offset & 2u) * 8));
    }
    std::uint8_t read8(Address address, std::uint16_t offset)
    {
        return static_cast<std::uint8_t>(read32(address, offset & ~3u) >> ((offset & 3u) * 8));
    }
};

} // namespace delos::pci
