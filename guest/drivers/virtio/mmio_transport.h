// mmio_transport.h: the virtio-mmio version 2 transport (virtio 1.2 §4.2), and collecting the
// devices that `virtio_mmio.device=` options on the command line announce.
#pragma once

#include <cstddef>
#include <cstdint>

#include "drivers/virtio/mmio_device_location.h"
#include "drivers/virtio/transport.h"
#include "lib/core/command_line.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::virtio {

// Every well-formed virtio_mmio.device option, in order, up to `capacity`; malformed ones are
// reported with kprint and skipped. Returns how many were written to `out`.
std::size_t find_mmio_devices(const CommandLine& command_line, MmioDeviceLocation* out, std::size_t capacity);

class MmioTransport final : public Transport {
public:
    // Maps the register window and checks MagicValue, Version 2 and a non-zero DeviceID.
    ErrorOr<void> attach(const MmioDeviceLocation& location);

    const MmioDeviceLocation& location() const { return m_location; }

    std::uint32_t device_id() const override { return m_device_id; }
    ErrorOr<std::uint64_t> negotiate_features(std::uint64_t required, std::uint64_t wanted) override;
    std::uint16_t queue_max_size(std::uint16_t index) override;
    ErrorOr<void> enable_queue(const Virtqueue& queue) override;
    ErrorOr<void> set_driver_ok() override;
    void set_failed() override;
    void notify(std::uint16_t queue_index) override;
    std::uint32_t take_interrupt_causes() override;
    bool needs_reset() override;
    std::uint32_t read_config32(std::uint32_t offset) override;

private:
    std::uint32_t read(std::uint32_t offset) const;
    void write(std::uint32_t offset, std::uint32_t value);

    MmioDeviceLocation m_location{};
    std::uint32_t m_device_id = 0;
};

} // namespace delos::virtio
