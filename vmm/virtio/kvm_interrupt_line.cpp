// kvm_interrupt_line.cpp: irqfd registration with a KVM_IRQ_LINE fallback.
#include "kvm_interrupt_line.h"

#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace delos::vmm::virtio {

KvmInterruptLine::KvmInterruptLine(int vm_fd, std::uint32_t gsi, bool try_irqfd) : m_vm_fd(vm_fd), m_gsi(gsi)
{
    if (!try_irqfd)
        return;
    FileDescriptor fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd.valid())
        return;
    kvm_irqfd request{};
    request.fd = static_cast<std::uint32_t>(fd.get());
    request.gsi = gsi;
    if (::ioctl(vm_fd, KVM_IRQFD, &request) == 0)
        m_irqfd = std::move(fd);
}

KvmInterruptLine::~KvmInterruptLine()
{
    if (!m_irqfd.valid())
        return;
    kvm_irqfd request{};
    request.fd = static_cast<std::uint32_t>(m_irqfd.get());
    request.gsi = m_gsi;
    request.flags = KVM_IRQFD_FLAG_DEASSIGN;
    ::ioctl(m_vm_fd, KVM_IRQFD, &request);
}

void KvmInterruptLine::trigger()
{
    if (m_irqfd.valid()) {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t ignored = ::write(m_irqfd.get(), &one, sizeof one);
        return;
    }
    kvm_irq_level level{};
    level.irq = m_gsi;
    level.level = 1;
    ::ioctl(m_vm_fd, KVM_IRQ_LINE, &level);
    level.level = 0;
    ::ioctl(m_vm_fd, KVM_IRQ_LINE, &level);
}

} // namespace delos::vmm::virtio
