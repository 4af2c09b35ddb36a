// boot_preparation.h: everything delos-vmm builds from its inputs before it opens KVM, so that bad
// input is refused (exit 2, one line) the same way with or without /dev/kvm.
#pragma once

#include <cstdint>
#include <optional>

#include "control_socket.h"
#include "file_descriptor.h"
#include "guest_memory.h"
#include "vm_config.h"

namespace delos::vmm {

// The control console: virtio-console over virtio-mmio at this window, on IOAPIC pin (GSI) 5.
inline constexpr std::uint64_t kControlConsoleMmioBase = 0xd0000000;
inline constexpr std::uint32_t kControlConsoleGsi = 5;

struct PreparedBoot {
    explicit PreparedBoot(GuestMemory ram) : memory(std::move(ram)) {}

    GuestMemory memory;  // kernel, modules, command line and start_info already in place
    std::uint32_t pvh_entry = 0;
    std::uint32_t start_info_address = 0;
    FileDescriptor kernel_file;                    // kept open: its symbols name a crash's frames
    FileDescriptor serial_file;                    // invalid: the console goes to stdout
    std::optional<UnixListener> control_listener;  // bound when --control-socket was given
};

// Reads and checks the kernel and modules, lays them out in fresh guest RAM, opens the serial
// file and binds the control socket. Throws BadInput for anything wrong with the inputs.
PreparedBoot prepare_boot(const VmConfig& config);

} // namespace delos::vmm
