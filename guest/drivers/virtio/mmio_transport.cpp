// mmio_transport.cpp: virtio-mmio register access, device initialisation (§3.1.1), finding announced devices.
#include "drivers/virtio/mmio_transport.h"

#include "log/kernel_log.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"

namespace delos::virtio {

namespace {

// Register offsets (§4.2.2).
using namespace spec::mmio;  // register offsets

} // namespace

std::size_t find_mmio_devices(const CommandLine& command_line, MmioDeviceLocation* out, std::size_t capacity)
{
    std::size_t found = 0;
    StringView value;
    for (std::size_t i = 0; command_line.option(kMmioDeviceOption, value, i); ++i) {
        auto location = parse_mmio_device_location(value);
        if (location.is_error()) {
            kprint("virtio-mmio: ignoring '{}={}': {}\n", kMmioDeviceOption, value, location.error().message);
            continue;
        }
        if (found == capacity) {
            kprint("virtio-mmio: ignoring '{}={}': more than {} devices\n", kMmioDeviceOption, value, capacity);
            continue;
        }
        out[found++] = location.value();
    }
    return found;
}

std::uint32_t MmioTransport::read(std::uint32_t offset) const
{
    return *reinterpret_cast<volatile std::uint32_t*>(m_location.base + offset);
}

void MmioTransport::write(std::uint32_t offset, std::uint32_t value)
{
    *reinterpret_cast<volatile std::uint32_t*>(m_location.base + offset) = value;
}

ErrorOr<void> MmioTransport::attach(const MmioDeviceLocation& location)
{
    // Only the registers and config space are touched: the window, up to a page of it. A window
    // inside a page (QEMU microvm's 512@0xfeb00e00) maps the page that contains it; neighbours in
    // that page map the same page again, which is harmless.
    std::uint64_t span = location.size < memory::kPageSize ? location.size : memory::kPageSize;
    TRY(memory::kernel_page_table().map_device(location.base, span));
    m_location = location;
    if (std::uint32_t magic = read(kMagicValue); magic != kMagic)
        return Error::make(ErrorCode::NotFound, "virtio-mmio: no device (bad MagicValue)", magic);
    if (std::uint32_t version = read(kVersion); version != kModernVersion)
        return Error::make(ErrorCode::Unsupported, "virtio-mmio: only version 2 (virtio 1.x) is supported", version);
    m_device_id = read(kDeviceId);
    if (m_device_id == 0)
        return Error::make(ErrorCode::NotFound, "virtio-mmio: placeholder device (DeviceID 0)");
    return {};
}

ErrorOr<std::uint64_t> MmioTransport::negotiate_features(std::uint64_t required, std::uint64_t wanted)
{
    required |= kFeatureVersion1;
    write(kStatus, 0);
    if (read(kStatus) != 0)
        return Error::make(ErrorCode::Io, "virtio-mmio: the device did not reset");
    write(kStatus, kStatusAcknowledge);
    write(kStatus, kStatusAcknowledge | kStatusDriver);

    write(kDeviceFeaturesSel, 0);
    std::uint64_t offered = read(kDeviceFeatures);
    write(kDeviceFeaturesSel, 1);
    offered |= std::uint64_t(read(kDeviceFeatures)) << 32;
    if ((offered & required) != required) {
        set_failed();
        return Error::make(ErrorCode::Unsupported, "virtio-mmio: the device lacks required features (missing bits)",
                           required & ~offered);
    }
    std::uint64_t accepted = offered & (required | wanted);
    write(kDriverFeaturesSel, 0);
    write(kDriverFeatures, static_cast<std::uint32_t>(accepted));
    write(kDriverFeaturesSel, 1);
    write(kDriverFeatures, static_cast<std::uint32_t>(accepted >> 32));

    write(kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    if (!(read(kStatus) & kStatusFeaturesOk)) {
        set_failed();
        return Error::make(ErrorCode::Unsupported, "virtio-mmio: the device refused our features (FEATURES_OK unset)",
                           accepted);
    }
    return accepted;
}

std::uint16_t MmioTransport::queue_max_size(std::uint16_t index)
{
    write(kQueueSel, index);
    std::uint32_t max = read(kQueueNumMax);
    return max > 0xffff ? 0xffff : static_cast<std::uint16_t>(max);
}

ErrorOr<void> MmioTransport::enable_queue(const Virtqueue& queue)
{
    write(kQueueSel, queue.index());
    if (read(kQueueReady) != 0)
        return Error::make(ErrorCode::Busy, "virtio-mmio: queue already enabled", queue.index());
    std::uint32_t max = read(kQueueNumMax);
    if (max == 0 || queue.size() > max)
        return Error::make(ErrorCode::OutOfRange, "virtio-mmio: queue larger than the device allows", queue.index());
    write(kQueueNum, queue.size());
    auto write_address = [this](std::uint32_t low, std::uint32_t high, std::uint64_t address) {
        write(low, static_cast<std::uint32_t>(address));
        write(high, static_cast<std::uint32_t>(address >> 32));
    };
    write_address(kQueueDescLow, kQueueDescHigh, queue.descriptor_table_address());
    write_address(kQueueDriverLow, kQueueDriverHigh, queue.avail_ring_address());
    write_address(kQueueDeviceLow, kQueueDeviceHigh, queue.used_ring_address());
    write(kQueueReady, 1);
    if (read(kQueueReady) != 1)
        return Error::make(ErrorCode::Io, "virtio-mmio: the device refused the queue", queue.index());
    return {};
}

ErrorOr<void> MmioTransport::set_driver_ok()
{
    std::uint32_t status = read(kStatus);
    write(kStatus, status | kStatusDriverOk);
    status = read(kStatus);
    if (status & kStatusNeedsReset)
        return Error::make(ErrorCode::Io, "virtio-mmio: the device needs a reset after setup", status);
    if (!(status & kStatusDriverOk))
        return Error::make(ErrorCode::Io, "virtio-mmio: the device refused DRIVER_OK", status);
    return {};
}

void MmioTransport::set_failed() { write(kStatus, read(kStatus) | kStatusFailed); }

void MmioTransport::notify(std::uint16_t queue_index) { write(kQueueNotify, queue_index); }

std::uint32_t MmioTransport::take_interrupt_causes()
{
    std::uint32_t causes = read(kInterruptStatus);
    if (causes)
        write(kInterruptAck, causes);
    return causes;
}

bool MmioTransport::needs_reset() { return read(kStatus) & kStatusNeedsReset; }

std::uint32_t MmioTransport::read_config32(std::uint32_t offset)
{
    // §4.2.2.1: re-read when ConfigGeneration changed underneath us (a bounded number of times:
    // a device that never settles gets its last value).
    std::uint32_t value = 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::uint32_t before = read(kConfigGeneration);
        value = read(kConfig + offset);
        if (read(kConfigGeneration) == before)
            break;
    }
    return value;
}

} // namespace delos::virtio
