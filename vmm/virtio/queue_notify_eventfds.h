// queue_notify_eventfds.h: ioeventfds that let KVM absorb QueueNotify writes without a VM exit to us.
#pragma once

#include <cstdint>
#include <vector>

#include "../file_descriptor.h"

namespace delos::vmm::virtio {

// One eventfd per queue, matched on the value written to the 32-bit QueueNotify register at
// `notify_address`. Writes of other values (a queue that does not exist) still exit to the VMM,
// where the transport puts the device in NEEDS_RESET. When KVM refuses (no KVM_CAP_IOEVENTFD, or
// the ioctl fails), nothing is registered and every notify is an MMIO exit.
class QueueNotifyEventfds {
public:
    QueueNotifyEventfds(int vm_fd, std::uint64_t notify_address, std::uint32_t queue_count, bool try_ioeventfd);
    QueueNotifyEventfds(const QueueNotifyEventfds&) = delete;
    QueueNotifyEventfds& operator=(const QueueNotifyEventfds&) = delete;
    ~QueueNotifyEventfds();

    bool registered() const { return !m_eventfds.empty(); }
    // eventfd of queue i at index i (empty when not registered).
    const std::vector<FileDescriptor>& eventfds() const { return m_eventfds; }

private:
    void unregister(std::size_t count);

    int m_vm_fd;
    std::uint64_t m_notify_address;
    std::vector<FileDescriptor> m_eventfds;
};

} // namespace delos::vmm::virtio
