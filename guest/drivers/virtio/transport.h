// transport.h: what a virtio device driver needs from a transport (virtio-mmio today, virtio-pci later).
#pragma once

#include <cstdint>

#include "abi/virtio_spec.h"
#include "drivers/virtio/virtqueue.h"
#include "lib/core/error_or.h"

namespace delos::virtio {

// The specification's numbers (shared with delos-vmm's devices).
using spec::kFeatureVersion1;
using spec::kStatusAcknowledge;
using spec::kStatusDriver;
using spec::kStatusDriverOk;
using spec::kStatusFeaturesOk;
using spec::kStatusNeedsReset;
using spec::kStatusFailed;
using spec::kInterruptUsedBuffer;  // virtio-pci's ISR has the same two bits
using spec::kInterruptConfigChange;

class Transport {
public:
    virtual ~Transport() = default;

    virtual std::uint32_t device_id() const = 0;

    // Reset, ACKNOWLEDGE, DRIVER, then features: `required` must all be offered (VERSION_1 always
    // is required), `wanted` are taken where offered. FEATURES_OK is set and read back. Returns
    // the negotiated set. On failure the device is left in FAILED.
    virtual ErrorOr<std::uint64_t> negotiate_features(std::uint64_t required, std::uint64_t wanted) = 0;
    // The size the device allows for queue `index` (0: the queue does not exist).
    virtual std::uint16_t queue_max_size(std::uint16_t index) = 0;
    // Tells the device where `queue`'s rings are and enables it. Between negotiation and DRIVER_OK.
    virtual ErrorOr<void> enable_queue(const Virtqueue& queue) = 0;
    virtual ErrorOr<void> set_driver_ok() = 0;
    // Sets FAILED: the driver gives up on the device.
    virtual void set_failed() = 0;

    virtual void notify(std::uint16_t queue_index) = 0;
    // Reads and acknowledges the interrupt causes (kInterrupt*). Safe in an interrupt handler.
    virtual std::uint32_t take_interrupt_causes() = 0;
    virtual bool needs_reset() = 0;
    // Device-specific configuration, read consistently (retried across a generation change).
    virtual std::uint32_t read_config32(std::uint32_t offset) = 0;
};

} // namespace delos::virtio
