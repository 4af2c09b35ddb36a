// virtio_kvm_wiring_test.cpp: which of irqfd/ioeventfd this host's KVM accepts, and that the fallbacks hold.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "kvm.h"
#include "virtio/kvm_interrupt_line.h"
#include "virtio/mmio_transport.h"
#include "virtio/queue_notify_eventfds.h"
#include "virtual_machine.h"

namespace delos::vmm::virtio {
namespace {

bool kvm_available() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }

TEST(VirtioKvmWiring, ProbesIrqfdAndIoeventfdAndFallsBack)
{
    if (!kvm_available())
        GTEST_SKIP() << "SKIPPED: /dev/kvm is not available on this machine";
    Kvm kvm = Kvm::open();
    Vm vm(kvm);
    vm.create_interrupt_controllers();

    KvmInterruptLine irq(vm.fd(), kControlConsoleGsi, kvm.has_capability(KVM_CAP_IRQFD));
    QueueNotifyEventfds notifiers(vm.fd(), kControlConsoleMmioBase + mmio::kQueueNotify, 6,
                                  kvm.has_capability(KVM_CAP_IOEVENTFD));
    std::printf("[ wiring   ] KVM_CAP_IRQFD=%d -> %s; KVM_CAP_IOEVENTFD=%d -> %s\n",
                kvm.has_capability(KVM_CAP_IRQFD), irq.mechanism(), kvm.has_capability(KVM_CAP_IOEVENTFD),
                notifiers.registered() ? "ioeventfd" : "mmio-exit");
    irq.trigger();  // must not fail either way

    KvmInterruptLine forced_fallback(vm.fd(), kControlConsoleGsi, false);
    EXPECT_FALSE(forced_fallback.uses_irqfd());
    forced_fallback.trigger();  // KVM_IRQ_LINE pulse on the in-kernel IOAPIC
    QueueNotifyEventfds no_eventfds(vm.fd(), kControlConsoleMmioBase + 0x1000 + mmio::kQueueNotify, 6, false);
    EXPECT_FALSE(no_eventfds.registered());
    if (notifiers.registered())
        EXPECT_EQ(notifiers.eventfds().size(), 6u);
}

} // namespace
} // namespace delos::vmm::virtio
