// platform_ports.h: the guest side of the machine contract: exit codes and the boot-timer signal.
#pragma once

#include <cstdint>

namespace delos::platform {

// Exit codes the guest reports (delos-vmm reserves 1, 2 and 3 for its own failures).
inline constexpr std::uint32_t kExitSuccess = 0;
inline constexpr std::uint32_t kExitTestsFailed = 10;
inline constexpr std::uint32_t kExitPanic = 11;

// Ends the VM with `code` (debug-exit port). Does not return.
[[noreturn]] void shutdown(std::uint32_t code);

// Tells the hypervisor that boot is complete (boot-timer port).
void signal_ready();

} // namespace delos::platform
