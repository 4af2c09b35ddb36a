// platform.h: the machine contract between the Delos guest and its hypervisors (ports, layout).
// Dual-use: included by the guest and by delos-vmm; QEMU honours the same ports where noted.
#pragma once

#include <cstdint>

namespace delos::abi {

// 16550 UART, COM1: the console and boot log.
inline constexpr std::uint16_t kCom1Port = 0x3f8;

// Debug exit: the guest writes its exit code (32-bit OUT). delos-vmm exits with that code;
// QEMU's `-device isa-debug-exit,iobase=0xf4,iosize=4` exits with (code << 1) | 1.
inline constexpr std::uint16_t kDebugExitPort = 0xf4;

// Boot timer: the guest writes any value once it is ready; delos-vmm prints the time since it
// started. On QEMU the write goes to an unassigned port and is ignored.
inline constexpr std::uint16_t kBootTimerPort = 0x440;

// Log port (delos-vmm only): a whole console write per exit instead of one per 16550 byte
// burst, which matters once exits cost ~32 µs (kvm_pvm native mode). A 32-bit IN reads
// kLogPortMagic where the port exists (QEMU: all ones, so the guest keeps the 16550). A 32-bit
// OUT of the guest-physical address of a LogPortRecord (below 4 GiB) writes `length` bytes at
// `address` to the console, as the 16550 would. The VMM checks both ranges against guest RAM
// and drops a record that is out of bounds, too long or has reserved bits set.
inline constexpr std::uint16_t kLogPort = 0x444;
inline constexpr std::uint32_t kLogPortMagic = 0x474f4c44;  // "DLOG"
inline constexpr std::uint32_t kLogPortMaxBytes = 4096;
struct LogPortRecord {
    std::uint64_t address;
    std::uint32_t length;
    std::uint32_t reserved;  // 0
};
static_assert(sizeof(LogPortRecord) == 16);

// The kernel image is linked and loaded at 1 MiB (physical = virtual: the linear map).
inline constexpr std::uint64_t kKernelPhysicalBase = 0x100000;

// Interrupt controllers at their architectural addresses (no ACPI parsing needed).
inline constexpr std::uint64_t kLocalApicBase = 0xfee00000;
inline constexpr std::uint64_t kIoApicBase = 0xfec00000;

// Guest RAM must end below the MMIO window (virtio-mmio devices, IOAPIC, LAPIC).
inline constexpr std::uint64_t kMmioWindowBase = 0xc0000000;

} // namespace delos::abi
