// pci_transport.h: the virtio-pci modern transport (virtio 1.2 §4.1): common configuration,
// notify (with its offset multiplier), ISR and device configuration found through the vendor
// capabilities, in BARs as the firmware (or pci_devices) assigned them. Works for transitional
// (1af4:1000..103f) and modern-only (1af4:1040+) functions alike: only the modern interface is used.
// Interrupts by MSI-X (one vector for configuration changes, one for every queue) or by INTx,
// whose ISR read both reports and acknowledges the cause.
#pragma once

#include <atomic>
#include <cstdint>

#include "drivers/virtio/transport.h"
#include "lib/core/error_or.h"
#include "lib/pci/bars.h"
#include "lib/pci/config_space.h"
#include "lib/pci/enumeration.h"
#include "lib/pci/memory_access.h"
#include "lib/pci/virtio_layout.h"

namespace delos::virtio {

class PciTransport final : public Transport {
public:
    // Queues the transport keeps notify offsets for (the console with kMaxPorts ports uses 2 + 2 * 4).
    static constexpr std::uint16_t kMaxQueues = 32;
    static constexpr std::uint16_t kNoVector = 0xffff;

    // Reads the capabilities and layout of `function` (whose memory BARs are `bars`, all assigned),
    // and enables memory decoding and bus mastering. `config` and `memory` must outlive us.
    ErrorOr<void> attach(pci::ConfigSpace& config, pci::MemoryAccess& memory, const pci::Function& function,
                         const pci::Bar* bars);

    const pci::Function& function() const { return m_function; }
    const pci::VirtioPciLayout& layout() const { return m_layout; }
    // Physical address of a region (what the caller maps uncached before start()).
    std::uint64_t region_address(const pci::Region& region) const { return m_bars[region.bar].address + region.offset; }

    // MSI-X with table entry 0 for configuration changes and entry 1 (0 if the table has one
    // entry) for every queue. `address`/`data_*` are the messages (x86: 0xfee00000 | apic id << 12,
    // data = vector). Before the driver starts. Unsupported without an MSI-X capability.
    ErrorOr<void> use_msix(std::uint32_t address, std::uint32_t data_config, std::uint32_t data_queues);
    // INTx: MSI-X (if present) stays off and INTx is enabled in the command register.
    void use_intx();
    bool uses_msix() const { return m_msix; }
    // MSI-X interrupt context: record which vector fired, for take_interrupt_causes.
    void note_msix_interrupt(std::uint32_t causes) { m_msix_causes.fetch_or(causes, std::memory_order_relaxed); }

    std::uint32_t device_id() const override { return m_device_type; }
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
    std::uint64_t common(std::uint32_t offset) const { return region_address(m_layout.common) + offset; }
    std::uint8_t status();
    void set_status(std::uint8_t status);

    pci::ConfigSpace* m_config = nullptr;
    pci::MemoryAccess* m_memory = nullptr;
    pci::Function m_function{};
    pci::Bar m_bars[pci::kMaxBars] = {};
    pci::VirtioPciLayout m_layout{};
    std::uint32_t m_device_type = 0;
    std::uint16_t m_queue_count = 0;
    bool m_msix = false;
    std::uint16_t m_queue_vector = kNoVector;
    std::atomic<std::uint32_t> m_msix_causes{0};
    // Offset of each queue's notify address inside the notify region; valid where m_notify_known.
    std::uint32_t m_notify_offset[kMaxQueues] = {};
    bool m_notify_known[kMaxQueues] = {};
};

} // namespace delos::virtio
