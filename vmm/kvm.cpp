// kvm.cpp: KVM ioctls for the system, the VM and its vCPUs.
#include "kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <string>

#include "vmm_error.h"

namespace delos::vmm {

namespace {
// Addresses KVM needs for its real-mode TSS and identity map on Intel; just below the BIOS area at 4 GiB.
constexpr std::uint64_t kTssAddress = 0xfffbd000;
constexpr std::uint64_t kIdentityMapAddress = 0xfffbc000;
} // namespace

Kvm Kvm::open()
{
    Kvm kvm;
    kvm.m_fd = FileDescriptor(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm.m_fd.valid())
        throw_errno("cannot open /dev/kvm");
    int version = ::ioctl(kvm.fd(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        throw HostFailure("KVM API version " + std::to_string(version) + " is not the expected " + std::to_string(KVM_API_VERSION));
    for (long capability : {KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_SET_TSS_ADDR, KVM_CAP_EXT_CPUID}) {
        if (!kvm.has_capability(capability))
            throw HostFailure("KVM lacks capability " + std::to_string(capability));
    }
    kvm.m_vcpu_mmap_size = ::ioctl(kvm.fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm.m_vcpu_mmap_size < static_cast<int>(sizeof(kvm_run)))
        throw_errno("KVM_GET_VCPU_MMAP_SIZE");
    return kvm;
}

bool Kvm::has_capability(long capability) const
{
    return ::ioctl(fd(), KVM_CHECK_EXTENSION, capability) > 0;
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const
{
    for (std::size_t count = 256; count <= 4096; count *= 2) {  // 75 here: one call, not two
        std::vector<std::uint8_t> buffer(sizeof(KvmCpuidHeader) + count * sizeof(kvm_cpuid_entry2));
        auto* header = reinterpret_cast<KvmCpuidHeader*>(buffer.data());
        header->entry_count = static_cast<std::uint32_t>(count);
        if (::ioctl(fd(), kKvmGetSupportedCpuid, buffer.data()) == 0) {
            auto* entries = reinterpret_cast<const kvm_cpuid_entry2*>(buffer.data() + sizeof(KvmCpuidHeader));
            return {entries, entries + header->entry_count};
        }
        if (errno != E2BIG)
            throw_errno("KVM_GET_SUPPORTED_CPUID");
    }
    throw HostFailure("KVM_GET_SUPPORTED_CPUID: too many entries");
}

Vm::Vm(const Kvm& kvm) : m_kvm(kvm)
{
    int fd;
    do {
        fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        throw_errno("KVM_CREATE_VM");
    m_fd = FileDescriptor(fd);
    if (::ioctl(this->fd(), KVM_SET_TSS_ADDR, kTssAddress) < 0)
        throw_errno("KVM_SET_TSS_ADDR");
    std::uint64_t identity_map = kIdentityMapAddress;
    if (::ioctl(this->fd(), KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
        throw_errno("KVM_SET_IDENTITY_MAP_ADDR");
}

void Vm::map_memory(std::uint32_t slot, std::uint64_t guest_address, std::uint64_t size, void* host_address)
{
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_address;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(host_address);
    if (::ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        throw_errno("KVM_SET_USER_MEMORY_REGION");
}

void Vm::create_interrupt_controllers()
{
    if (::ioctl(fd(), KVM_CREATE_IRQCHIP, 0) < 0)
        throw_errno("KVM_CREATE_IRQCHIP");
    // No PIT: the guest times with kvmclock and the LAPIC timer, and creating one costs ~4 ms of
    // boot on kvm_pvm. (Its PIT calibration is only a fallback for hypervisors without kvmclock.)
}

Vcpu Vm::create_vcpu(std::uint32_t index)
{
    FileDescriptor vcpu_fd(::ioctl(fd(), KVM_CREATE_VCPU, index));
    if (!vcpu_fd.valid())
        throw_errno("KVM_CREATE_VCPU");
    std::size_t size = static_cast<std::size_t>(m_kvm.vcpu_mmap_size());
    void* run = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd.get(), 0);
    if (run == MAP_FAILED)
        throw_errno("mmap of the vCPU run state");
    return Vcpu(std::move(vcpu_fd), static_cast<kvm_run*>(run), size);
}

Vcpu::Vcpu(Vcpu&& other) noexcept
    : m_fd(std::move(other.m_fd)), m_run(std::exchange(other.m_run, nullptr)), m_run_size(other.m_run_size)
{
}

Vcpu::~Vcpu()
{
    if (m_run)
        ::munmap(m_run, m_run_size);
}

kvm_regs Vcpu::registers() const
{
    kvm_regs regs{};
    if (::ioctl(fd(), KVM_GET_REGS, &regs) < 0)
        throw_errno("KVM_GET_REGS");
    return regs;
}

void Vcpu::set_registers(const kvm_regs& regs)
{
    if (::ioctl(fd(), KVM_SET_REGS, &regs) < 0)
        throw_errno("KVM_SET_REGS");
}

kvm_sregs Vcpu::special_registers() const
{
    kvm_sregs sregs{};
    if (::ioctl(fd(), KVM_GET_SREGS, &sregs) < 0)
        throw_errno("KVM_GET_SREGS");
    return sregs;
}

void Vcpu::set_special_registers(const kvm_sregs& sregs)
{
    if (::ioctl(fd(), KVM_SET_SREGS, &sregs) < 0)
        throw_errno("KVM_SET_SREGS");
}

} // namespace delos::vmm
