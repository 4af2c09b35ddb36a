// kvm.h: thin owners of the KVM system, VM and vCPU file descriptors.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "file_descriptor.h"

namespace delos::vmm {

// struct kvm_cpuid2 as the kernel lays it out. Debian's C++ view of <linux/kvm.h> wraps the
// flexible array in a struct with an empty member, which moves `entries` to offset 12 and makes
// KVM_GET_SUPPORTED_CPUID encode size 12 instead of 8; the kernel then answers EINVAL.
struct KvmCpuidHeader {
    std::uint32_t entry_count;
    std::uint32_t padding;
};
static_assert(sizeof(KvmCpuidHeader) == 8);
inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmCpuidHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmCpuidHeader);
// The same for struct kvm_msrs.
struct KvmMsrsHeader {
    std::uint32_t msr_count;
    std::uint32_t padding;
};
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmMsrsHeader);

class Kvm {
public:
    // Opens /dev/kvm and checks the API version and the capabilities delos-vmm relies on.
    static Kvm open();

    int fd() const { return m_fd.get(); }
    int vcpu_mmap_size() const { return m_vcpu_mmap_size; }
    bool has_capability(long capability) const;
    // The CPUID leaves KVM can present on this host.
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;

private:
    FileDescriptor m_fd;
    int m_vcpu_mmap_size = 0;
};

class Vcpu {
public:
    Vcpu(FileDescriptor fd, kvm_run* run, std::size_t run_size) : m_fd(std::move(fd)), m_run(run), m_run_size(run_size) {}
    Vcpu(Vcpu&&) noexcept;
    Vcpu(const Vcpu&) = delete;
    ~Vcpu();

    int fd() const { return m_fd.get(); }
    kvm_run* run_state() const { return m_run; }
    std::size_t run_state_size() const { return m_run_size; }

    kvm_regs registers() const;
    void set_registers(const kvm_regs&);
    kvm_sregs special_registers() const;
    void set_special_registers(const kvm_sregs&);

private:
    FileDescriptor m_fd;
    kvm_run* m_run;
    std::size_t m_run_size;
};

class Vm {
public:
    explicit Vm(const Kvm& kvm);

    int fd() const { return m_fd.get(); }
    void map_memory(std::uint32_t slot, std::uint64_t guest_address, std::uint64_t size, void* host_address);
    // In-kernel LAPIC + IOAPIC + PIC, and the PIT (its IRQ 0 can calibrate the TSC where needed).
    void create_interrupt_controllers();
    Vcpu create_vcpu(std::uint32_t index);

private:
    const Kvm& m_kvm;
    FileDescriptor m_fd;
};

} // namespace delos::vmm
