// tsc.cpp: TSC frequency from kvmclock's scale factors, the hypervisor timing leaf, or the PIT.
#include "arch/x86_64/tsc.h"

#include "arch/x86_64/cpu.h"
#include "lib/core/pit_calibration.h"

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

// PIT channel 0 counting down from 0xffff in mode 0, read back with latch commands until 10 ms
// (11932 ticks of 1.193182 MHz) have passed. Channel 0's gate is always on, so this needs no
// port 0x61 (QEMU's microvm has none: reading it returns 0xff, and a channel-2 gate loop based on
// it ends at once). A machine without a PIT reads 0xffff forever: give up after ~2^31 TSC ticks.
std::uint16_t read_pit_channel0()
{
    cpu::out8(0x43, 0x00);  // latch channel 0
    std::uint8_t low = cpu::in8(0x40);
    std::uint8_t high = cpu::in8(0x40);
    return static_cast<std::uint16_t>(low | (high << 8));
}

// Against the PIT, robust to the vCPU being paused anywhere (lib/core/pit_calibration.h).
std::uint64_t from_pit()
{
    auto start = [] {
        cpu::out8(0x43, 0x30);  // channel 0, lobyte/hibyte, mode 0 (interrupt on terminal count; IRQ0 is masked)
        cpu::out8(0x40, 0xff);
        cpu::out8(0x40, 0xff);
    };
    auto sample = [] {
        pit_calibration::PitSample taken;
        taken.tsc_before = cpu::read_tsc();
        taken.count = read_pit_channel0();
        taken.tsc_after = cpu::read_tsc();
        return taken;
    };
    return pit_calibration::calibrate(start, sample);
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
