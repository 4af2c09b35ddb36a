// queue_notify_eventfds.cpp: KVM_IOEVENTFD registration (with datamatch) and its undoing.
#include "queue_notify_eventfds.h"

#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

namespace delos::vmm::virtio {

namespace {
kvm_ioeventfd notify_request(std::uint64_t address, std::uint32_t queue, int fd)
{
    kvm_ioeventfd request{};
    request.datamatch = queue;
    request.addr = address;
    request.len = 4;
    request.fd = fd;
    request.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    return request;
}
} // namespace

QueueNotifyEventfds::QueueNotifyEventfds(int vm_fd, std::uint64_t notify_address, std::uint32_t queue_count,
                                         bool try_ioeventfd)
    : m_vm_fd(vm_fd), m_notify_address(notify_address)
{
    if (!try_ioeventfd)
        return;
    for (std::uint32_t queue = 0; queue < queue_count; ++queue) {
        FileDescriptor fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        kvm_ioeventfd request = notify_request(notify_address, queue, fd.get());
        if (!fd.valid() || ::ioctl(vm_fd, KVM_IOEVENTFD, &request) < 0) {
            unregister(m_eventfds.size());  // all or nothing: a half-registered device is confusing
            return;
        }
        m_eventfds.push_back(std::move(fd));
    }
}

QueueNotifyEventfds::~QueueNotifyEventfds() { unregister(m_eventfds.size()); }

void QueueNotifyEventfds::unregister(std::size_t count)
{
    for (std::size_t queue = 0; queue < count; ++queue) {
        kvm_ioeventfd request = notify_request(m_notify_address, static_cast<std::uint32_t>(queue), m_eventfds[queue].get());
        request.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        ::ioctl(m_vm_fd, KVM_IOEVENTFD, &request);
    }
    m_eventfds.clear();
}

} // namespace delos::vmm::virtio
