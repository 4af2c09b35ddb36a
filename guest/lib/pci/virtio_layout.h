// virtio_layout.h: where a virtio-pci modern device keeps its structures (virtio 1.2 §4.1.4: the
// vendor capabilities naming common config, notify, ISR and device config by BAR, offset and
// length) and its MSI-X table (PCI 3.0 §6.8.2). Every region is checked against the BAR it
// names, so the transport can access it without further bounds checks than its own offsets.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/pci/bars.h"
#include "lib/pci/capabilities.h"
#include "lib/pci/config_space.h"

namespace delos::pci {

inline constexpr std::uint16_t kVirtioVendorId = 0x1af4;
// 0x1000..0x103f: transitional devices (device type from the subsystem id); 0x1040 + type: modern only.
inline constexpr std::uint16_t kVirtioFirstTransitionalId = 0x1000;
inline constexpr std::uint16_t kVirtioLastTransitionalId = 0x103f;
inline constexpr std::uint16_t kVirtioModernBaseId = 0x1040;
inline constexpr std::uint16_t kVirtioLastModernId = 0x107f;

// The virtio device type (1 net, 3 console, ...) of a virtio PCI function, or 0 if it is none.
std::uint32_t virtio_device_type(std::uint16_t vendor_id, std::uint16_t device_id, std::uint16_t subsystem_id);

// virtio_pci_cap.cfg_type values (§4.1.4).
inline constexpr std::uint8_t kVirtioCapCommon = 1, kVirtioCapNotify = 2, kVirtioCapIsr = 3,
                              kVirtioCapDevice = 4, kVirtioCapPciConfig = 5;
// The virtio 1.0 common configuration structure is 56 bytes.
inline constexpr std::uint32_t kVirtioCommonConfigBytes = 0x38;

struct Region {
    std::uint8_t bar = 0;
    std::uint32_t offset = 0;  // from the BAR's start
    std::uint32_t length = 0;
    bool present = false;
};

struct MsixLayout {
    bool present = false;
    std::uint8_t capability = 0;  // config-space offset of the capability
    std::uint16_t table_size = 0;  // entries
    Region table;
};

struct VirtioPciLayout {
    Region common, notify, isr, device;
    std::uint32_t notify_multiplier = 0;
    MsixLayout msix;
};

// Reads the vendor capabilities and MSI-X of `address`. Common config, notify and ISR are
// required; the first usable capability of each type wins (§4.1.4.1), capabilities in I/O or
// missing BARs, of unknown types or too short are skipped.
ErrorOr<VirtioPciLayout> read_virtio_layout(ConfigSpace& config, Address address, const CapabilityList& capabilities,
                                            const Bar* bars);

} // namespace delos::pci
