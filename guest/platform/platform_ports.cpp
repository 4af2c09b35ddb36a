// platform_ports.cpp: writes to the debug-exit and boot-timer ports.
#include "platform/platform_ports.h"

#include "abi/platform.h"
#include "arch/x86_64/cpu.h"

namespace delos::platform {

void shutdown(std::uint32_t code)
{
    cpu::disable_interrupts_hard();  // the real cli: nothing may run any more (native mode too)
    cpu::out32(abi::kDebugExitPort, code);
    cpu::halt_forever();  // only reached on a hypervisor without the exit port
}

void signal_ready() { cpu::out32(abi::kBootTimerPort, 1); }

} // namespace delos::platform
