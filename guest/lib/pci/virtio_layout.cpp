// virtio_layout.cpp: checked parsing of virtio-pci vendor capabilities and the MSI-X capability.
#include "lib/pci/virtio_layout.h"

namespace delos::pci {

namespace {

// virtio_pci_cap field offsets (§4.1.4).
constexpr std::uint8_t kCapLength = 2, kCapConfigType = 3, kCapBar = 4, kCapOffset = 8, kCapRegionLength = 12,
                       kCapNotifyMultiplier = 16;
constexpr std::uint8_t kVirtioCapBytes = 16, kVirtioNotifyCapBytes = 20;

// MSI-X capability fields (PCI 3.0 §6.8.2).
constexpr std::uint8_t kMsixControl = 2, kMsixTable = 4;
constexpr std::uint32_t kMsixEntryBytes = 16;

bool region_fits(const Bar* bars, std::uint8_t bar, std::uint64_t offset, std::uint64_t length)
{
    if (bar >= kMaxBars || !bars[bar].is_memory() || bars[bar].size == 0)
        return false;
    return offset <= bars[bar].size && length <= bars[bar].size - offset;
}

std::uint32_t minimum_length(std::uint8_t type)
{
    switch (type) {
    case kVirtioCapCommon: return kVirtioCommonConfigBytes;
    case kVirtioCapNotify: return 2;
    case kVirtioCapIsr: return 1;
    default: return 0;
    }
}

} // namespace

std::uint32_t virtio_device_type(std::uint16_t vendor_id, std::uint16_t device_id, std::uint16_t subsystem_id)
{
    if (vendor_id != kVirtioVendorId)
        return 0;
    if (device_id >= kVirtioFirstTransitionalId && device_id <= kVirtioLastTransitionalId)
        return subsystem_id;  // §4.1.2.1: the subsystem device id carries the type
    if (device_id >= kVirtioModernBaseId && device_id <= kVirtioLastModernId)
        return device_id - kVirtioModernBaseId;
    return 0;
}

ErrorOr<VirtioPciLayout> read_virtio_layout(ConfigSpace& config, Address address, const CapabilityList& capabilities,
                                            const Bar* bars)
{
    VirtioPciLayout layout;
    for (std::size_t i = 0; i < capabilities.count; ++i) {
        const Capability& cap = capabilities.entries[i];
        if (cap.id == kCapabilityMsix && !layout.msix.present) {
            std::uint16_t control = config.read16(address, static_cast<std::uint16_t>(cap.offset + kMsixControl));
            std::uint32_t table = config.read32(address, static_cast<std::uint16_t>(cap.offset + kMsixTable));
            MsixLayout msix;
            msix.capability = cap.offset;
            msix.table_size = static_cast<std::uint16_t>((control & 0x7ff) + 1);
            msix.table = {static_cast<std::uint8_t>(table & 7), table & ~7u, msix.table_size * kMsixEntryBytes, true};
            if (region_fits(bars, msix.table.bar, msix.table.offset, msix.table.length)) {
                msix.present = true;
                layout.msix = msix;
            }
            continue;
        }
        if (cap.id != kCapabilityVendor)
            continue;
        // Reading past 0xff would leave the capability area: a header at 0xfc has no room.
        if (cap.offset > 0x100 - kVirtioCapBytes)
            continue;
        std::uint8_t length = config.read8(address, static_cast<std::uint16_t>(cap.offset + kCapLength));
        std::uint8_t type = config.read8(address, static_cast<std::uint16_t>(cap.offset + kCapConfigType));
        if (length < kVirtioCapBytes)
            continue;
        Region* slot = nullptr;
        switch (type) {
        case kVirtioCapCommon: slot = &layout.common; break;
        case kVirtioCapNotify: slot = &layout.notify; break;
        case kVirtioCapIsr: slot = &layout.isr; break;
        case kVirtioCapDevice: slot = &layout.device; break;
        default: continue;  // PCI config access, shared memory, vendor-specific: not used
        }
        if (slot->present)
            continue;
        Region region;
        region.bar = config.read8(address, static_cast<std::uint16_t>(cap.offset + kCapBar));
        region.offset = config.read32(address, static_cast<std::uint16_t>(cap.offset + kCapOffset));
        region.length = config.read32(address, static_cast<std::uint16_t>(cap.offset + kCapRegionLength));
        region.present = true;
        if (region.length < minimum_length(type) || !region_fits(bars, region.bar, region.offset, region.length))
            continue;
        if (type == kVirtioCapNotify) {
            if (length < kVirtioNotifyCapBytes || cap.offset > 0x100 - kVirtioNotifyCapBytes)
                continue;
            layout.notify_multiplier =
                config.read32(address, static_cast<std::uint16_t>(cap.offset + kCapNotifyMultiplier));
        }
        *slot = region;
    }
    if (!layout.common.present)
        return Error::make(ErrorCode::NotFound, "virtio-pci: no usable common configuration capability");
    if (!layout.notify.present)
        return Error::make(ErrorCode::NotFound, "virtio-pci: no usable notify capability");
    if (!layout.isr.present)
        return Error::make(ErrorCode::NotFound, "virtio-pci: no usable ISR capability");
    return layout;
}

} // namespace delos::pci
