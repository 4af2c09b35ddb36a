// virtio_device.h: what a virtio device offers a transport, and what a transport offers the device.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "abi/virtio_spec.h"
#include "../guest_memory.h"
#include "queue.h"

namespace delos::vmm::virtio {

// The specification's numbers (shared with the guest's drivers).
using ::delos::virtio::spec::kFeatureVersion1;
using ::delos::virtio::spec::kStatusAcknowledge;
using ::delos::virtio::spec::kStatusDriver;
using ::delos::virtio::spec::kStatusDriverOk;
using ::delos::virtio::spec::kStatusFeaturesOk;
using ::delos::virtio::spec::kStatusNeedsReset;
using ::delos::virtio::spec::kStatusFailed;

// Implemented by the transport. Called by the device with the transport's lock held.
class VirtioSignals {
public:
    virtual ~VirtioSignals() = default;
    // The device put buffers in a used ring: raise the used-buffer interrupt if the driver wants it.
    virtual void used_buffers(const Virtqueue& queue) = 0;
    // The guest gave the device something hostile: DEVICE_NEEDS_RESET and a config-change interrupt.
    // The device must not touch its queues again until it is reset.
    virtual void device_failed(std::string_view reason) = 0;
    // True once the device is in NEEDS_RESET (for any reason): leave the queues alone.
    virtual bool needs_reset() const = 0;
};

// A virtio device, independent of how it is attached (Firecracker's VirtioDevice).
class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    virtual std::uint32_t device_type() const = 0;
    virtual std::uint64_t offered_features() const = 0;
    virtual std::span<Virtqueue> queues() = 0;

    // Device-specific configuration space; reads outside it see zeros, writes there are ignored.
    virtual void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const = 0;
    virtual void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;

    // The driver set DRIVER_OK with `features` negotiated; the ready queues may now be used.
    virtual void activate(const GuestMemory& memory, std::uint64_t features, VirtioSignals& signals) = 0;
    // The driver notified queue `index` (an existing, ready queue) after activation.
    virtual void queue_notified(std::uint16_t index) = 0;
    // Status 0 was written (or the device failed and is being reset): back to power-on state.
    virtual void reset() = 0;
};

} // namespace delos::vmm::virtio
