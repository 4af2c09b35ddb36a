// interrupt_line.h: the one interrupt a virtio-mmio device raises; KVM-backed in the VMM, counted in tests.
#pragma once

namespace delos::vmm::virtio {

class InterruptLine {
public:
    virtual ~InterruptLine() = default;
    // An edge on the device's IRQ. Safe to call from any thread.
    virtual void trigger() = 0;
};

} // namespace delos::vmm::virtio
