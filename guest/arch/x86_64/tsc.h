// tsc.h: time from the TSC, its frequency taken from the hypervisor (kvmclock or CPUID) or,
// failing that, measured against the PIT.
#pragma once

#include <cstdint>

namespace delos::tsc {

// Determines the TSC frequency. Cheap under KVM: no waiting.
void calibrate();
std::uint64_t ticks_per_second();
const char* calibration_source();

// TSC value at the PVH entry (recorded by the boot assembly).
std::uint64_t boot_tsc();
std::uint64_t ticks_to_nanoseconds(std::uint64_t ticks);
std::uint64_t nanoseconds_since_boot();

} // namespace delos::tsc
