// kvm_interrupt_line.h: a virtio device's IRQ as an in-kernel irqchip GSI, through irqfd or KVM_IRQ_LINE.
#pragma once

#include <cstdint>

#include "../file_descriptor.h"
#include "interrupt_line.h"

namespace delos::vmm::virtio {

// Each trigger() is an edge on IOAPIC pin `gsi` (the guest programs it edge-triggered, active high).
// With an irqfd, KVM injects it on an eventfd write and no ioctl is issued; without one
// (KVM_CAP_IRQFD missing or KVM_IRQFD refused), we pulse the line with two KVM_IRQ_LINE ioctls.
class KvmInterruptLine final : public InterruptLine {
public:
    KvmInterruptLine(int vm_fd, std::uint32_t gsi, bool try_irqfd);
    ~KvmInterruptLine() override;

    void trigger() override;
    bool uses_irqfd() const { return m_irqfd.valid(); }
    const char* mechanism() const { return uses_irqfd() ? "irqfd" : "KVM_IRQ_LINE"; }

private:
    int m_vm_fd;
    std::uint32_t m_gsi;
    FileDescriptor m_irqfd;
};

} // namespace delos::vmm::virtio
