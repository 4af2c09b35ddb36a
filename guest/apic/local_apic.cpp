// local_apic.cpp: xAPIC register access, timer calibration against the TSC, and timer arming.
#include "apic/local_apic.h"

#include "abi/platform.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"

namespace delos::local_apic {

namespace {

// Register offsets from the APIC base (Intel SDM vol. 3, table 11-1).
constexpr std::uint32_t kRegisterId = 0x20;
constexpr std::uint32_t kRegisterTaskPriority = 0x80;
constexpr std::uint32_t kRegisterEndOfInterrupt = 0xb0;
constexpr std::uint32_t kRegisterSpuriousVector = 0xf0;
constexpr std::uint32_t kRegisterInterruptRequest = 0x200;  // 8 registers of 32 bits, 0x10 apart
constexpr std::uint32_t kRegisterInService = 0x100;         // the same layout
constexpr std::uint32_t kRegisterLvtTimer = 0x320;
constexpr std::uint32_t kRegisterInitialCount = 0x380;
constexpr std::uint32_t kRegisterCurrentCount = 0x390;
constexpr std::uint32_t kRegisterDivideConfiguration = 0x3e0;

constexpr std::uint32_t kSoftwareEnable = 1u << 8;
constexpr std::uint32_t kLvtMasked = 1u << 16;
constexpr std::uint32_t kLvtOneShot = 0u << 17;
constexpr std::uint32_t kLvtTscDeadline = 2u << 17;
constexpr std::uint32_t kDivideBy16 = 0x3;

constexpr std::uint32_t kMsrApicBase = 0x1b;
constexpr std::uint64_t kApicGlobalEnable = 1ull << 11;
constexpr std::uint32_t kMsrTscDeadline = 0x6e0;
constexpr std::uint32_t kCpuidTscDeadlineBit = 1u << 24;  // CPUID.1:ECX

// How long the count-down timer is measured against the TSC.
constexpr std::uint64_t kCalibrationMicroseconds = 2000;

bool g_initialized = false;
TimerMode g_mode = TimerMode::CountDown;
std::uint64_t g_timer_ticks_per_second = 0;

volatile std::uint32_t& reg(std::uint32_t offset)
{
    return *reinterpret_cast<volatile std::uint32_t*>(abi::kLocalApicBase + offset);
}

std::uint64_t calibrate_count_down_timer()
{
    reg(kRegisterDivideConfiguration) = kDivideBy16;
    reg(kRegisterLvtTimer) = kLvtMasked | kLvtOneShot | kTimerVector;
    std::uint64_t wait_ticks = tsc::ticks_per_second() * kCalibrationMicroseconds / 1000000;
    std::uint64_t start = cpu::read_tsc();
    reg(kRegisterInitialCount) = 0xffffffffu;
    while (cpu::read_tsc() - start < wait_ticks)
        cpu::pause();
    std::uint32_t remaining = reg(kRegisterCurrentCount);
    std::uint64_t elapsed_tsc = cpu::read_tsc() - start;
    reg(kRegisterInitialCount) = 0;
    std::uint64_t counted = 0xffffffffull - remaining;
    // counted / elapsed = timer ticks per TSC tick.
    return elapsed_tsc ? counted * tsc::ticks_per_second() / elapsed_tsc : 0;
}

} // namespace

ErrorOr<void> initialize()
{
    if (g_initialized)
        return {};
    if (tsc::ticks_per_second() == 0)
        return Error::make(ErrorCode::Unsupported, "local APIC: the TSC is not calibrated");
    std::uint64_t base = cpu::read_msr(kMsrApicBase);
    if ((base & ~0xfffull & 0xfffffffffull) != abi::kLocalApicBase)
        return Error::make(ErrorCode::Unsupported, "local APIC: not at its architectural address", base);
    if (!(base & kApicGlobalEnable))
        cpu::write_msr(kMsrApicBase, base | kApicGlobalEnable);
    TRY(memory::kernel_page_table().map_device(abi::kLocalApicBase, memory::kPageSize));

    reg(kRegisterTaskPriority) = 0;
    reg(kRegisterSpuriousVector) = kSoftwareEnable | kSpuriousVector;

    bool has_tsc_deadline = cpu::cpuid(1).ecx & kCpuidTscDeadlineBit;
    if (has_tsc_deadline) {
        // No count-down calibration: it busy-waits 2 ms, most of a boot, for a timer not used.
        g_mode = TimerMode::TscDeadline;
        reg(kRegisterLvtTimer) = kLvtTscDeadline | kTimerVector;
    } else {
        g_timer_ticks_per_second = calibrate_count_down_timer();
        if (g_timer_ticks_per_second == 0)
            return Error::make(ErrorCode::Unsupported, "local APIC: the timer did not count during calibration");
        g_mode = TimerMode::CountDown;
        reg(kRegisterLvtTimer) = kLvtOneShot | kTimerVector;
    }
    g_initialized = true;
    return {};
}

bool initialized() { return g_initialized; }
TimerMode timer_mode() { return g_mode; }
const char* timer_mode_name() { return g_mode == TimerMode::TscDeadline ? "tsc-deadline" : "count-down"; }
std::uint64_t timer_ticks_per_second() { return g_timer_ticks_per_second; }

void arm_timer_at(std::uint64_t tsc_deadline)
{
    if (g_mode == TimerMode::TscDeadline) {
        cpu::write_msr(kMsrTscDeadline, tsc_deadline ? tsc_deadline : 1);  // 0 would disarm
        return;
    }
    std::uint64_t now = cpu::read_tsc();
    std::uint64_t tsc_ticks = tsc_deadline > now ? tsc_deadline - now : 0;
    if (tsc_ticks > tsc::ticks_per_second())
        tsc_ticks = tsc::ticks_per_second();  // fires early at worst; the handler re-arms
    std::uint64_t count = tsc_ticks * g_timer_ticks_per_second / tsc::ticks_per_second();
    if (count == 0)
        count = 1;
    if (count > 0xffffffffull)
        count = 0xffffffffull;
    reg(kRegisterInitialCount) = static_cast<std::uint32_t>(count);
}

void disarm_timer()
{
    if (g_mode == TimerMode::TscDeadline)
        cpu::write_msr(kMsrTscDeadline, 0);
    else
        reg(kRegisterInitialCount) = 0;
}

void end_of_interrupt() { reg(kRegisterEndOfInterrupt) = 0; }

std::uint32_t id() { return reg(kRegisterId) >> 24; }

bool interrupt_requested(std::uint8_t vector)
{
    return reg(kRegisterInterruptRequest + (vector / 32) * 0x10) & (1u << (vector % 32));
}

bool interrupt_in_service(std::uint8_t vector)
{
    return reg(kRegisterInService + (vector / 32) * 0x10) & (1u << (vector % 32));
}

} // namespace delos::local_apic
