// x86_64_cpu.cpp: x86-64 vCPU state for a PVH boot.
#include "x86_64_cpu.h"

#include <sys/ioctl.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "vmm_error.h"

namespace delos::vmm {

namespace {

constexpr std::uint32_t kCpuidFeatures = 1;
constexpr std::uint32_t kCpuidHypervisorBit = 1u << 31;  // ECX of leaf 1
constexpr std::uint32_t kCpuidExtendedTopology = 0xb;

kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type)
{
    kvm_segment segment{};
    segment.base = 0;
    segment.limit = 0xffffffff;
    segment.selector = selector;
    segment.type = type;
    segment.present = 1;
    segment.dpl = 0;
    segment.db = 1;  // 32-bit
    segment.s = 1;   // code/data
    segment.l = 0;
    segment.g = 1;   // 4 KiB granularity
    return segment;
}

// LAPIC register offsets and delivery modes used for LINT0/LINT1.
constexpr std::size_t kApicLvtLint0 = 0x350;
constexpr std::size_t kApicLvtLint1 = 0x360;
constexpr std::uint32_t kDeliveryModeExtInt = 0x7;
constexpr std::uint32_t kDeliveryModeNmi = 0x4;

void set_delivery_mode(kvm_lapic_state& state, std::size_t offset, std::uint32_t mode)
{
    std::uint32_t value;
    std::memcpy(&value, state.regs + offset, sizeof value);
    value = (value & ~0x700u) | (mode << 8);
    std::memcpy(state.regs + offset, &value, sizeof value);
}

} // namespace

void configure_cpuid(const Kvm& kvm, Vcpu& vcpu, std::uint32_t vcpu_index, std::uint32_t vcpu_count)
{
    std::vector<kvm_cpuid_entry2> entries = kvm.supported_cpuid();
    for (auto& entry : entries) {
        if (entry.function == kCpuidFeatures) {
            entry.ecx |= kCpuidHypervisorBit;
            entry.ebx = (entry.ebx & 0x0000ffff) | (vcpu_count << 16) | (vcpu_index << 24);
        } else if (entry.function == kCpuidExtendedTopology) {
            entry.edx = vcpu_index;  // x2APIC ID
        }
    }
    std::vector<std::uint8_t> buffer(sizeof(KvmCpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2));
    reinterpret_cast<KvmCpuidHeader*>(buffer.data())->entry_count = static_cast<std::uint32_t>(entries.size());
    std::memcpy(buffer.data() + sizeof(KvmCpuidHeader), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    if (::ioctl(vcpu.fd(), kKvmSetCpuid2, buffer.data()) < 0)
        throw_errno("KVM_SET_CPUID2");
}

void configure_msrs(Vcpu& vcpu)
{
    constexpr std::uint32_t kMsrMtrrDefaultType = 0x2ff;
    constexpr std::uint64_t kMtrrEnable = 1u << 11;
    constexpr std::uint64_t kMemoryTypeWriteBack = 6;
    struct {
        KvmMsrsHeader header;
        kvm_msr_entry entries[1];
    } msrs{};
    msrs.header.msr_count = 1;
    msrs.entries[0].index = kMsrMtrrDefaultType;
    msrs.entries[0].data = kMtrrEnable | kMemoryTypeWriteBack;
    if (::ioctl(vcpu.fd(), kKvmSetMsrs, &msrs) != 1)
        throw_errno("KVM_SET_MSRS (MTRR default type)");
}

void configure_local_apic(Vcpu& vcpu)
{
    kvm_lapic_state state{};
    if (::ioctl(vcpu.fd(), KVM_GET_LAPIC, &state) < 0)
        throw_errno("KVM_GET_LAPIC");
    set_delivery_mode(state, kApicLvtLint0, kDeliveryModeExtInt);
    set_delivery_mode(state, kApicLvtLint1, kDeliveryModeNmi);
    if (::ioctl(vcpu.fd(), KVM_SET_LAPIC, &state) < 0)
        throw_errno("KVM_SET_LAPIC");
}

void set_pvh_entry_state(Vcpu& vcpu, std::uint32_t entry, std::uint32_t start_info_address)
{
    kvm_sregs sregs = vcpu.special_registers();
    sregs.cs = flat_segment(0x8, 0xb);   // execute/read, accessed
    sregs.ds = flat_segment(0x10, 0x3);  // read/write, accessed
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.tr = kvm_segment{};
    sregs.tr.limit = 0x67;
    sregs.tr.type = 0xb;  // busy 32-bit TSS
    sregs.tr.present = 1;
    sregs.cr0 = 0x11;  // PE | ET: protected mode, paging off
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
    vcpu.set_special_registers(sregs);

    kvm_regs regs{};
    regs.rip = entry;
    regs.rbx = start_info_address;
    regs.rflags = 0x2;  // reserved bit 1; interrupts off
    vcpu.set_registers(regs);

    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    if (::ioctl(vcpu.fd(), KVM_SET_FPU, &fpu) < 0)
        throw_errno("KVM_SET_FPU");
}

bool looks_like_stack_overflow(std::uint64_t rsp, std::uint64_t cr2)
{
    // The push that failed was at or just below rsp; anything further off is some other fault.
    constexpr std::uint64_t kSlack = 256;
    return cr2 != 0 && cr2 <= rsp + kSlack && rsp <= cr2 + kSlack;
}

std::string describe_registers(const Vcpu& vcpu)
{
    kvm_regs r{};
    kvm_sregs s{};
    if (::ioctl(vcpu.fd(), KVM_GET_REGS, &r) < 0 || ::ioctl(vcpu.fd(), KVM_GET_SREGS, &s) < 0)
        return "  (registers unavailable)\n";
    char text[1024];
    std::snprintf(text, sizeof text,
                  "  rip=%016llx rsp=%016llx rbp=%016llx rflags=%08llx\n"
                  "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
                  "  rsi=%016llx rdi=%016llx r8 =%016llx r9 =%016llx\n"
                  "  r10=%016llx r11=%016llx r12=%016llx r13=%016llx\n"
                  "  r14=%016llx r15=%016llx\n"
                  "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx\n"
                  "  cs=%04x (base %llx, %s) ss=%04x idt=%llx+%x gdt=%llx+%x\n",
                  r.rip, r.rsp, r.rbp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11,
                  r.r12, r.r13, r.r14, r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base,
                  s.cs.l ? "64-bit" : (s.cs.db ? "32-bit" : "16-bit"), s.ss.selector, s.idt.base, s.idt.limit,
                  s.gdt.base, s.gdt.limit);
    std::string description = text;
    if (looks_like_stack_overflow(r.rsp, s.cr2))
        description += "  cr2 is at the stack pointer: most likely a stack overflow into a guard page (without an IST\n"
                       "  stack the guest cannot report it itself, as in kvm_pvm native mode)\n";
    return description;
}

} // namespace delos::vmm
