// tsc.cpp: TSC frequency from kvmclock's scale factors, the hypervisor timing leaf, or the PIT.
#include "arch/x86_64/tsc.h"

#include "arch/x86_64/cpu.h"

extern "C" std::uint64_t boot_entry_tsc;

namespace delos::tsc {

namespace {

std::uint64_t g_ticks_per_second = 0;
const char* g_source = "uncalibrated";

struct alignas(32) PvclockTimeInfo {
    std::uint32_t version;
    std::uint32_t pad0;
    std::uint64_t tsc_timestamp;
    std::uint64_t system_time;
    std::uint32_t tsc_to_system_mul;
    std::int8_t tsc_shift;
    std::uint8_t flags;
    std::uint8_t pad[2];
};
PvclockTimeInfo g_pvclock;

constexpr std::uint32_t kKvmCpuidSignature = 0x40000000;
constexpr std::uint32_t kKvmCpuidFeatures = 0x40000001;
constexpr std::uint32_t kKvmFeatureClockSource2 = 1u << 3;
constexpr std::uint32_t kMsrKvmSystemTimeNew = 0x4b564d01;
constexpr std::uint32_t kHypervisorTimingLeaf = 0x40000010;  // eax = TSC kHz (QEMU, VMware)

bool running_on_kvm()
{
    auto signature = cpu::cpuid(kKvmCpuidSignature);
    return signature.ebx == 0x4b4d564b && signature.ecx == 0x564b4d56 && signature.edx == 0x4d;  // "KVMKVMKVM"
}

std::uint64_t from_kvmclock()
{
    if (!running_on_kvm() || !(cpu::cpuid(kKvmCpuidFeatures).eax & kKvmFeatureClockSource2))
        return 0;
    cpu::write_msr(kMsrKvmSystemTimeNew, reinterpret_cast<std::uint64_t>(&g_pvclock) | 1);
    std::uint32_t multiplier = 0;
    for (int attempt = 0; attempt < 1000 && multiplier == 0; ++attempt)  // KVM fills it before re-entry
        multiplier = __atomic_load_n(&g_pvclock.tsc_to_system_mul, __ATOMIC_ACQUIRE);
    std::int8_t shift = g_pvclock.tsc_shift;
    cpu::write_msr(kMsrKvmSystemTimeNew, 0);  // one reading is enough; stop the host's updates
    if (multiplier == 0)
        return 0;
    // ns = ((ticks << shift) * multiplier) >> 32, so ticks/s = 1e9 * 2^32 / multiplier / 2^shift.
    std::uint64_t hz = (1000000000ull << 32) / multiplier;
    return shift >= 0 ? hz >> shift : hz << -shift;
}

std::uint64_t from_timing_leaf()
{
    if (cpu::cpuid(kKvmCpuidSignature).eax < kHypervisorTimingLeaf)
        return 0;
    return std::uint64_t(cpu::cpuid(kHypervisorTimingLeaf).eax) * 1000;
}

// PIT channel 0 in one-shot mode for 10 ms, its OUT pin read through the read-back command.
// For machines without the port 0x61 gate/status register (QEMU microvm has no PC speaker, so
// the port reads 0xff and channel 2's gate is stuck low). The legacy PIC is masked by now, so
// channel 0's IRQ 0 goes nowhere.
std::uint64_t from_pit_channel_0(std::uint16_t count)
{
    cpu::out8(0x43, 0x30);  // channel 0, lobyte/hibyte, mode 0 (OUT goes high at terminal count)
    cpu::out8(0x40, count & 0xff);
    cpu::out8(0x40, count >> 8);
    std::uint64_t start = cpu::read_tsc();
    for (;;) {
        cpu::out8(0x43, 0xe2);  // read-back: status only, channel 0
        if (cpu::in8(0x40) & 0x80)
            break;
        cpu::pause();
    }
    return cpu::read_tsc() - start;
}

std::uint64_t from_pit()
{
    // PIT channel 2 in one-shot mode for 10 ms (11932 ticks of 1.193182 MHz).
    constexpr std::uint16_t kCount = 11932;
    std::uint8_t gate = cpu::in8(0x61);
    if (gate == 0xff)
        return from_pit_channel_0(kCount) * 100;  // no port 0x61 here
    cpu::out8(0x61, static_cast<std::uint8_t>((gate & ~0x02) | 0x01));
    cpu::out8(0x43, 0xb0);  // channel 2, lobyte/hibyte, mode 0
    cpu::out8(0x42, kCount & 0xff);
    cpu::out8(0x42, kCount >> 8);
    std::uint64_t start = cpu::read_tsc();
    while (!(cpu::in8(0x61) & 0x20))
        cpu::pause();
    std::uint64_t elapsed = cpu::read_tsc() - start;
    cpu::out8(0x61, gate);
    return elapsed * 100;
}

} // namespace

void calibrate()
{
    if ((g_ticks_per_second = from_kvmclock()) != 0)
        g_source = "kvmclock";
    else if ((g_ticks_per_second = from_timing_leaf()) != 0)
        g_source = "cpuid";
    else if ((g_ticks_per_second = from_pit()) != 0)
        g_source = "pit";
}

std::uint64_t ticks_per_second() { return g_ticks_per_second; }
const char* calibration_source() { return g_source; }
std::uint64_t boot_tsc() { return boot_entry_tsc; }

std::uint64_t ticks_to_nanoseconds(std::uint64_t ticks)
{
    if (g_ticks_per_second == 0)
        return 0;
    // Split so nothing overflows 64 bits (and no 128-bit division helper is needed).
    std::uint64_t seconds = ticks / g_ticks_per_second;
    std::uint64_t remainder = ticks % g_ticks_per_second;
    return seconds * 1000000000u + remainder * 1000000000u / g_ticks_per_second;
}

std::uint64_t nanoseconds_since_boot() { return ticks_to_nanoseconds(cpu::read_tsc() - boot_entry_tsc); }

} // namespace delos::tsc
