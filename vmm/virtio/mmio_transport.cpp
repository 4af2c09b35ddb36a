// mmio_transport.cpp: virtio-mmio register semantics, the status state machine and NEEDS_RESET.
#include "mmio_transport.h"

#include <cstring>

namespace delos::vmm::virtio {

using namespace mmio;

MmioTransport::MmioTransport(VirtioDevice& device, const GuestMemory& memory, InterruptLine& interrupt)
    : m_device(device), m_memory(memory), m_interrupt(interrupt)
{
}

void MmioTransport::mmio_read(std::uint64_t offset, std::span<std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    if (offset >= kConfig) {
        m_device.read_config(offset - kConfig, data);
        return;
    }
    // §4.2.2.2: registers below the config space are read 32 bits wide and aligned; others see 0.
    std::uint32_t value = (data.size() == 4 && offset % 4 == 0) ? read_register(offset) : 0;
    std::memset(data.data(), 0, data.size());
    std::memcpy(data.data(), &value, std::min<std::size_t>(data.size(), 4));
}

void MmioTransport::mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    std::lock_guard guard(m_lock);
    if (offset >= kConfig) {
        m_device.write_config(offset - kConfig, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0)
        return;  // not a register access the spec allows: ignored
    std::uint32_t value;
    std::memcpy(&value, data.data(), 4);
    write_register(offset, value);
}

void MmioTransport::notify_queue(std::uint32_t index, std::uint64_t writes)
{
    if (writes > 1)
        m_notifications.fetch_add(writes - 1, std::memory_order_relaxed);
    std::lock_guard guard(m_lock);
    notify_locked(index);
}

std::uint32_t MmioTransport::read_register(std::uint64_t offset)
{
    auto queues = m_device.queues();
    const Virtqueue* selected = m_queue_select < queues.size() ? &queues[m_queue_select] : nullptr;
    switch (offset) {
    case kMagicValue: return kMagic;
    case kVersion: return kVersion2;
    case kDeviceId: return m_device.device_type();
    case kVendorId: return kVendorDelos;
    case kDeviceFeatures: {
        std::uint64_t features = m_device.offered_features();
        if (m_device_features_select == 0)
            return static_cast<std::uint32_t>(features);
        if (m_device_features_select == 1)
            return static_cast<std::uint32_t>(features >> 32);
        return 0;
    }
    // A queue that does not exist reports QueueNumMax 0: that is how drivers count queues.
    case kQueueNumMax: return selected ? selected->max_size() : 0;
    case kQueueReady: return selected && selected->ready() ? 1 : 0;
    case kInterruptStatus: return m_interrupt_status;
    case kStatus: return m_status;
    case kShmLenLow:
    case kShmLenHigh: return 0xffffffff;  // no shared memory regions
    case kConfigGeneration: return m_config_generation;
    default: return 0;  // write-only and reserved registers
    }
}

bool MmioTransport::queue_config_writable(const Virtqueue& queue) const
{
    // §3.1.1: queues are set up after FEATURES_OK and before DRIVER_OK, while not ready.
    return (m_status & kStatusFeaturesOk) && !(m_status & kStatusDriverOk) && !(m_status & kStatusNeedsReset) &&
           !queue.ready();
}

Virtqueue* MmioTransport::selected_queue_for_write()
{
    auto queues = m_device.queues();
    if (m_queue_select >= queues.size()) {
        device_failed("the driver configured queue " + std::to_string(m_queue_select) + ", which does not exist");
        return nullptr;
    }
    Virtqueue& queue = queues[m_queue_select];
    return queue_config_writable(queue) ? &queue : nullptr;
}

void MmioTransport::write_register(std::uint64_t offset, std::uint32_t value)
{
    auto set_low = [](std::uint64_t old, std::uint32_t low) { return (old & ~0xffffffffull) | low; };
    auto set_high = [](std::uint64_t old, std::uint32_t high) { return (old & 0xffffffffull) | (std::uint64_t(high) << 32); };
    switch (offset) {
    case kDeviceFeaturesSel: m_device_features_select = value; return;
    case kDriverFeaturesSel: m_driver_features_select = value; return;
    case kDriverFeatures:
        if (m_status & (kStatusFeaturesOk | kStatusNeedsReset))
            return;  // features are fixed once accepted
        if (m_driver_features_select == 0)
            m_driver_features = set_low(m_driver_features, value);
        else if (m_driver_features_select == 1)
            m_driver_features = set_high(m_driver_features, value);
        return;
    case kQueueSel: m_queue_select = value; return;
    case kQueueNum:
        if (Virtqueue* queue = selected_queue_for_write())
            queue->set_size(value > 0xffff ? 0 : static_cast<std::uint16_t>(value));  // 0: refused at QueueReady
        return;
    case kQueueDescLow:
    case kQueueDescHigh:
    case kQueueDriverLow:
    case kQueueDriverHigh:
    case kQueueDeviceLow:
    case kQueueDeviceHigh: {
        Virtqueue* queue = selected_queue_for_write();
        if (!queue)
            return;
        bool high = offset % 8 == 4;
        std::uint64_t base = offset & ~std::uint64_t(7);
        auto update = [&](std::uint64_t old) { return high ? set_high(old, value) : set_low(old, value); };
        if (base == kQueueDescLow)
            queue->set_descriptor_table(update(queue->descriptor_table()));
        else if (base == kQueueDriverLow)
            queue->set_avail_ring(update(queue->avail_ring()));
        else
            queue->set_used_ring(update(queue->used_ring()));
        return;
    }
    case kQueueReady: {
        auto queues = m_device.queues();
        if (m_queue_select >= queues.size()) {
            device_failed("the driver enabled queue " + std::to_string(m_queue_select) + ", which does not exist");
            return;
        }
        Virtqueue& queue = queues[m_queue_select];
        if ((m_status & kStatusDriverOk) || !(m_status & kStatusFeaturesOk) || (m_status & kStatusNeedsReset))
            return;
        if (value == 0) {
            queue.set_not_ready();
        } else if (!queue.ready()) {
            if (auto error = queue.make_ready(m_memory))
                device_failed("queue " + std::to_string(m_queue_select) + ": " + std::string(describe(*error)));
        }
        return;
    }
    case kQueueNotify: notify_locked(value); return;
    case kInterruptAck: m_interrupt_status &= ~value; return;
    case kStatus: write_status(value); return;
    case kShmSel: return;
    default: return;  // read-only and reserved registers ignore writes
    }
}

void MmioTransport::write_status(std::uint32_t value)
{
    if (value == 0) {
        reset_locked();
        return;
    }
    if (m_status & kStatusNeedsReset) {
        m_status |= value & kStatusFailed;  // only a reset helps now
        return;
    }
    if ((value & m_status) != m_status)
        return;  // §2.1.2: the driver never clears a bit except by reset
    std::uint32_t added = value & ~m_status;
    if (added & kStatusFeaturesOk) {
        std::uint64_t offered = m_device.offered_features();
        bool acceptable = (m_driver_features & ~offered) == 0 && (m_driver_features & kFeatureVersion1);
        if (!acceptable)
            value &= ~kStatusFeaturesOk;  // the driver sees FEATURES_OK unset and gives up
    }
    if ((added & kStatusDriverOk) && !(value & kStatusFeaturesOk))
        value &= ~kStatusDriverOk;
    m_status = value & 0xff & ~kStatusNeedsReset;
    if ((m_status & kStatusDriverOk) && !m_activated) {
        m_activated = true;
        m_device.activate(m_memory, m_driver_features, *this);
    }
}

void MmioTransport::notify_locked(std::uint32_t index)
{
    m_notifications.fetch_add(1, std::memory_order_relaxed);
    auto queues = m_device.queues();
    if (m_status & kStatusNeedsReset)
        return;
    if (index >= queues.size()) {
        device_failed("the driver notified queue " + std::to_string(index) + ", which does not exist");
        return;
    }
    if (!m_activated || !queues[index].ready())
        return;  // §4.2.3.3: nothing to do before DRIVER_OK
    m_device.queue_notified(static_cast<std::uint16_t>(index));
}

void MmioTransport::reset_locked()
{
    m_device.reset();
    for (Virtqueue& queue : m_device.queues())
        queue.reset();
    m_status = 0;
    m_device_features_select = m_driver_features_select = 0;
    m_driver_features = 0;
    m_queue_select = 0;
    m_interrupt_status = 0;
    m_activated = false;
    m_failure_reason.clear();
}

void MmioTransport::used_buffers(const Virtqueue& queue)
{
    if (queue.driver_wants_interrupt(m_memory))
        raise(kInterruptUsedBuffer);
}

void MmioTransport::device_failed(std::string_view reason)
{
    if (m_status & kStatusNeedsReset)
        return;
    m_failure_reason = reason;
    m_status |= kStatusNeedsReset;
    ++m_config_generation;
    raise(kInterruptConfigChange);  // §2.1.2: NEEDS_RESET is announced by a config-change interrupt
}

void MmioTransport::raise(std::uint32_t reason)
{
    m_interrupt_status |= reason;
    ++m_interrupts_raised;
    m_interrupt.trigger();
}

} // namespace delos::vmm::virtio
