// pci_transport.cpp: virtio-pci modern register access and device initialisation (§3.1.1, §4.1.5).
#include "drivers/virtio/pci_transport.h"

namespace delos::virtio {

namespace {

// struct virtio_pci_common_cfg (§4.1.4.3).
constexpr std::uint32_t kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04, kDriverFeatureSelect = 0x08,
                        kDriverFeature = 0x0c, kConfigMsixVector = 0x10, kNumQueues = 0x12, kDeviceStatus = 0x14,
                        kConfigGeneration = 0x15, kQueueSelect = 0x16, kQueueSize = 0x18, kQueueMsixVector = 0x1a,
                        kQueueEnable = 0x1c, kQueueNotifyOff = 0x1e, kQueueDesc = 0x20, kQueueDriver = 0x28,
                        kQueueDevice = 0x30;

// MSI-X capability and table (PCI 3.0 §6.8.2).
constexpr std::uint16_t kMsixControlEnable = 1u << 15;
constexpr std::uint16_t kMsixControlFunctionMask = 1u << 14;
constexpr std::uint32_t kMsixEntryBytes = 16;
constexpr std::uint32_t kMsixVectorMasked = 1;

// How often a reset is polled for completion before the device is declared stuck.
constexpr int kResetPolls = 100000;

} // namespace

ErrorOr<void> PciTransport::attach(pci::ConfigSpace& config, pci::MemoryAccess& memory, const pci::Function& function,
                                   const pci::Bar* bars)
{
    m_config = &config;
    m_memory = &memory;
    m_function = function;
    for (std::size_t i = 0; i < pci::kMaxBars; ++i)
        m_bars[i] = bars[i];
    std::uint16_t subsystem = config.read16(function.address, pci::reg::kSubsystemId);
    m_device_type = pci::virtio_device_type(function.vendor_id, function.device_id, subsystem);
    if (m_device_type == 0)
        return Error::make(ErrorCode::NotFound, "virtio-pci: not a virtio function", function.device_id);
    pci::CapabilityList capabilities;
    TRY(pci::read_capabilities(config, function.address, capabilities));
    m_layout = TRY(pci::read_virtio_layout(config, function.address, capabilities, m_bars));
    for (const pci::Region* region : {&m_layout.common, &m_layout.notify, &m_layout.isr, &m_layout.device}) {
        if (region->present && m_bars[region->bar].address == 0)
            return Error::make(ErrorCode::Unsupported, "virtio-pci: a structure lies in an unassigned BAR", region->bar);
    }
    std::uint16_t command = config.read16(function.address, pci::reg::kCommand);
    command |= pci::kCommandMemorySpace | pci::kCommandBusMaster;
    config.write16(function.address, pci::reg::kCommand, command);
    if ((config.read16(function.address, pci::reg::kCommand) & (pci::kCommandMemorySpace | pci::kCommandBusMaster)) !=
        (pci::kCommandMemorySpace | pci::kCommandBusMaster))
        return Error::make(ErrorCode::Io, "virtio-pci: memory decoding or bus mastering did not turn on");
    return {};
}

ErrorOr<void> PciTransport::use_msix(std::uint32_t address, std::uint32_t data_config, std::uint32_t data_queues)
{
    const pci::MsixLayout& msix = m_layout.msix;
    if (!msix.present)
        return Error::make(ErrorCode::Unsupported, "virtio-pci: the function has no usable MSI-X table");
    if (m_bars[msix.table.bar].address == 0)
        return Error::make(ErrorCode::Unsupported, "virtio-pci: the MSI-X table lies in an unassigned BAR");
    std::uint64_t table = region_address(msix.table);
    auto program = [&](std::uint16_t entry, std::uint32_t data) {
        std::uint64_t at = table + std::uint64_t(entry) * kMsixEntryBytes;
        m_memory->write32(at + 12, kMsixVectorMasked);
        m_memory->write32(at + 0, address);
        m_memory->write32(at + 4, 0);
        m_memory->write32(at + 8, data);
        m_memory->write32(at + 12, 0);
    };
    m_queue_vector = msix.table_size >= 2 ? 1 : 0;
    program(0, data_config);
    if (m_queue_vector == 1)
        program(1, data_queues);
    std::uint16_t control_offset = static_cast<std::uint16_t>(msix.capability + 2);
    std::uint16_t control = m_config->read16(m_function.address, control_offset);
    control = static_cast<std::uint16_t>((control | kMsixControlEnable) & ~kMsixControlFunctionMask);
    m_config->write16(m_function.address, control_offset, control);
    if (!(m_config->read16(m_function.address, control_offset) & kMsixControlEnable))
        return Error::make(ErrorCode::Io, "virtio-pci: MSI-X did not turn on");
    m_msix = true;
    return {};
}

void PciTransport::use_intx()
{
    m_msix = false;
    if (m_layout.msix.present) {
        std::uint16_t control_offset = static_cast<std::uint16_t>(m_layout.msix.capability + 2);
        std::uint16_t control = m_config->read16(m_function.address, control_offset);
        m_config->write16(m_function.address, control_offset, control & ~kMsixControlEnable);
    }
    std::uint16_t command = m_config->read16(m_function.address, pci::reg::kCommand);
    m_config->write16(m_function.address, pci::reg::kCommand, command & ~pci::kCommandInterruptDisable);
}

std::uint8_t PciTransport::status() { return m_memory->read8(common(kDeviceStatus)); }
void PciTransport::set_status(std::uint8_t status) { m_memory->write8(common(kDeviceStatus), status); }

ErrorOr<std::uint64_t> PciTransport::negotiate_features(std::uint64_t required, std::uint64_t wanted)
{
    required |= kFeatureVersion1;
    set_status(0);
    // §4.1.4.3.2: the reset is complete when device_status reads 0.
    int polls = 0;
    while (status() != 0) {
        if (++polls == kResetPolls)
            return Error::make(ErrorCode::Io, "virtio-pci: the device did not reset");
    }
    set_status(kStatusAcknowledge);
    set_status(kStatusAcknowledge | kStatusDriver);

    m_memory->write32(common(kDeviceFeatureSelect), 0);
    std::uint64_t offered = m_memory->read32(common(kDeviceFeature));
    m_memory->write32(common(kDeviceFeatureSelect), 1);
    offered |= std::uint64_t(m_memory->read32(common(kDeviceFeature))) << 32;
    if ((offered & required) != required) {
        set_failed();
        return Error::make(ErrorCode::Unsupported, "virtio-pci: the device lacks required features (missing bits)",
                           required & ~offered);
    }
    std::uint64_t accepted = offered & (required | wanted);
    m_memory->write32(common(kDriverFeatureSelect), 0);
    m_memory->write32(common(kDriverFeature), static_cast<std::uint32_t>(accepted));
    m_memory->write32(common(kDriverFeatureSelect), 1);
    m_memory->write32(common(kDriverFeature), static_cast<std::uint32_t>(accepted >> 32));
    set_status(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    if (!(status() & kStatusFeaturesOk)) {
        set_failed();
        return Error::make(ErrorCode::Unsupported, "virtio-pci: the device refused our features (FEATURES_OK unset)",
                           accepted);
    }
    m_queue_count = m_memory->read16(common(kNumQueues));
    // The reset above dropped any vector the device had; configuration changes get entry 0.
    m_memory->write16(common(kConfigMsixVector), m_msix ? 0 : kNoVector);
    if (m_msix && m_memory->read16(common(kConfigMsixVector)) != 0) {
        set_failed();
        return Error::make(ErrorCode::Io, "virtio-pci: the device refused the configuration MSI-X vector");
    }
    return accepted;
}

std::uint16_t PciTransport::queue_max_size(std::uint16_t index)
{
    if (index >= m_queue_count)
        return 0;
    m_memory->write16(common(kQueueSelect), index);
    return m_memory->read16(common(kQueueSize));
}

ErrorOr<void> PciTransport::enable_queue(const Virtqueue& queue)
{
    std::uint16_t index = queue.index();
    if (index >= m_queue_count || index >= kMaxQueues)
        return Error::make(ErrorCode::OutOfRange, "virtio-pci: no such queue", index);
    m_memory->write16(common(kQueueSelect), index);
    if (m_memory->read16(common(kQueueEnable)) != 0)
        return Error::make(ErrorCode::Busy, "virtio-pci: queue already enabled", index);
    std::uint16_t max = m_memory->read16(common(kQueueSize));
    if (max == 0 || queue.size() > max)
        return Error::make(ErrorCode::OutOfRange, "virtio-pci: queue larger than the device allows", index);
    // §4.1.4.4: the notify address is notify.offset + queue_notify_off * multiplier; it must leave
    // room for the 16-bit write inside the notify region.
    std::uint64_t notify_offset = std::uint64_t(m_memory->read16(common(kQueueNotifyOff))) * m_layout.notify_multiplier;
    if (notify_offset > m_layout.notify.length || m_layout.notify.length - notify_offset < 2)
        return Error::make(ErrorCode::OutOfRange, "virtio-pci: queue notify address outside the notify region", index);
    m_memory->write16(common(kQueueSize), queue.size());
    std::uint16_t vector = m_msix ? m_queue_vector : kNoVector;
    m_memory->write16(common(kQueueMsixVector), vector);
    if (m_memory->read16(common(kQueueMsixVector)) != vector)
        return Error::make(ErrorCode::Io, "virtio-pci: the device refused the queue's MSI-X vector", index);
    auto write64 = [this](std::uint32_t offset, std::uint64_t value) {
        m_memory->write32(common(offset), static_cast<std::uint32_t>(value));
        m_memory->write32(common(offset + 4), static_cast<std::uint32_t>(value >> 32));
    };
    write64(kQueueDesc, queue.descriptor_table_address());
    write64(kQueueDriver, queue.avail_ring_address());
    write64(kQueueDevice, queue.used_ring_address());
    m_notify_offset[index] = static_cast<std::uint32_t>(notify_offset);
    m_notify_known[index] = true;
    m_memory->write16(common(kQueueEnable), 1);
    if (m_memory->read16(common(kQueueEnable)) != 1)
        return Error::make(ErrorCode::Io, "virtio-pci: the device refused the queue", index);
    return {};
}

ErrorOr<void> PciTransport::set_driver_ok()
{
    std::uint8_t current = status();
    set_status(static_cast<std::uint8_t>(current | kStatusDriverOk));
    current = status();
    if (current & kStatusNeedsReset)
        return Error::make(ErrorCode::Io, "virtio-pci: the device needs a reset after setup", current);
    if (!(current & kStatusDriverOk))
        return Error::make(ErrorCode::Io, "virtio-pci: the device refused DRIVER_OK", current);
    return {};
}

void PciTransport::set_failed() { set_status(static_cast<std::uint8_t>(status() | kStatusFailed)); }

void PciTransport::notify(std::uint16_t queue_index)
{
    if (queue_index >= kMaxQueues || !m_notify_known[queue_index])
        return;
    m_memory->write16(region_address(m_layout.notify) + m_notify_offset[queue_index], queue_index);
}

std::uint32_t PciTransport::take_interrupt_causes()
{
    if (m_msix)
        return m_msix_causes.exchange(0, std::memory_order_relaxed);
    // The ISR read returns the causes and deasserts the INTx line (§4.1.4.5).
    return m_memory->read8(region_address(m_layout.isr)) & (kInterruptUsedBuffer | kInterruptConfigChange);
}

bool PciTransport::needs_reset() { return status() & kStatusNeedsReset; }

std::uint32_t PciTransport::read_config32(std::uint32_t offset)
{
    if (!m_layout.device.present || offset > m_layout.device.length || m_layout.device.length - offset < 4)
        return 0;
    std::uint64_t address = region_address(m_layout.device) + offset;
    std::uint32_t value = 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::uint8_t before = m_memory->read8(common(kConfigGeneration));
        value = m_memory->read32(address);
        if (m_memory->read8(common(kConfigGeneration)) == before)
            break;
    }
    return value;
}

} // namespace delos::virtio
