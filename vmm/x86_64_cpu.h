// x86_64_cpu.h: the x86-64 part of vCPU setup: CPUID, the PVH entry state, LAPIC wiring, dumps.
#pragma once

#include <cstdint>
#include <string>

#include "kvm.h"

namespace delos::vmm {

// Presents the host's KVM-supported CPUID, with this vCPU's APIC ID and the hypervisor bit.
void configure_cpuid(const Kvm& kvm, Vcpu& vcpu, std::uint32_t vcpu_index, std::uint32_t vcpu_count);

// LINT0 as ExtINT (legacy PIC) and LINT1 as NMI, as a PC firmware leaves them.
void configure_local_apic(Vcpu& vcpu);

// Memory types as firmware leaves them: MTRRs enabled with write-back as the default type.
// Without this the vCPU starts with MTRRs disabled, which means uncached memory: the guest
// then runs two orders of magnitude slower.
void configure_msrs(Vcpu& vcpu);

// The PVH entry state: 32-bit protected mode, paging off, flat 4 GiB segments, %ebx = start_info.
void set_pvh_entry_state(Vcpu& vcpu, std::uint32_t entry, std::uint32_t start_info_address);

// Human-readable general, control and segment registers, for crash reports.
std::string describe_registers(const Vcpu& vcpu);
// Whether a crash with this rsp and CR2 is most likely a stack overflow (a fault at the stack
// pointer), which describe_registers then says.
bool looks_like_stack_overflow(std::uint64_t rsp, std::uint64_t cr2);

} // namespace delos::vmm
