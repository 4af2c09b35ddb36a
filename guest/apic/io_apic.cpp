// io_apic.cpp: I/O APIC register access (indirect, IOREGSEL/IOWIN) and redirection entries.
#include "apic/io_apic.h"

#include "abi/platform.h"
#include "apic/local_apic.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"
#include "sync/spin_lock.h"

namespace delos::io_apic {

namespace {

constexpr std::uint32_t kRegisterSelect = 0x00;
constexpr std::uint32_t kRegisterWindow = 0x10;
constexpr std::uint32_t kRegisterVersion = 0x01;
constexpr std::uint32_t kRedirectionTable = 0x10;  // two 32-bit registers per pin

constexpr std::uint32_t kEntryActiveLow = 1u << 13;
constexpr std::uint32_t kEntryLevelTriggered = 1u << 15;
constexpr std::uint32_t kEntryMasked = 1u << 16;

bool g_initialized = false;
std::uint32_t g_pin_count = 0;
SpinLock g_lock;  // IOREGSEL + IOWIN is a two-step access

std::uint32_t read_register(std::uint32_t index)
{
    *reinterpret_cast<volatile std::uint32_t*>(abi::kIoApicBase + kRegisterSelect) = index;
    return *reinterpret_cast<volatile std::uint32_t*>(abi::kIoApicBase + kRegisterWindow);
}

void write_register(std::uint32_t index, std::uint32_t value)
{
    *reinterpret_cast<volatile std::uint32_t*>(abi::kIoApicBase + kRegisterSelect) = index;
    *reinterpret_cast<volatile std::uint32_t*>(abi::kIoApicBase + kRegisterWindow) = value;
}

} // namespace

ErrorOr<void> initialize()
{
    SpinLockGuard guard(g_lock);
    if (g_initialized)
        return {};
    TRY(memory::kernel_page_table().map_device(abi::kIoApicBase, memory::kPageSize));
    g_pin_count = ((read_register(kRegisterVersion) >> 16) & 0xff) + 1;
    if (g_pin_count > 0xff - kFirstPinVector)
        return Error::make(ErrorCode::Unsupported, "io-apic: more pins than device vectors", g_pin_count);
    for (std::uint32_t pin = 0; pin < g_pin_count; ++pin) {
        write_register(kRedirectionTable + 2 * pin, kEntryMasked);
        write_register(kRedirectionTable + 2 * pin + 1, 0);
    }
    g_initialized = true;
    return {};
}

std::uint32_t pin_count() { return g_pin_count; }

ErrorOr<void> route_pin(std::uint8_t pin, Trigger trigger, Polarity polarity)
{
    if (!g_initialized)
        return Error::make(ErrorCode::InvalidArgument, "io-apic: not initialized");
    if (!local_apic::initialized())
        return Error::make(ErrorCode::InvalidArgument, "io-apic: the local APIC is not enabled");
    if (pin >= g_pin_count)
        return Error::make(ErrorCode::OutOfRange, "io-apic: no such pin", pin);
    std::uint32_t low = vector_for_pin(pin);  // fixed delivery, physical destination mode
    if (trigger == Trigger::Level)
        low |= kEntryLevelTriggered;
    if (polarity == Polarity::ActiveLow)
        low |= kEntryActiveLow;
    SpinLockGuard guard(g_lock);
    write_register(kRedirectionTable + 2 * pin + 1, local_apic::id() << 24);
    write_register(kRedirectionTable + 2 * pin, low);
    return {};
}

void mask_pin(std::uint8_t pin)
{
    if (!g_initialized || pin >= g_pin_count)
        return;
    SpinLockGuard guard(g_lock);
    write_register(kRedirectionTable + 2 * pin, kEntryMasked);
}

} // namespace delos::io_apic
