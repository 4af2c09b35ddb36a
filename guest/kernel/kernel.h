// kernel.h: the kernel core after the nano_core hands over: boot facts and the main loop.
#pragma once

#include <cstdint>

#include "lib/pvh/boot_info.h"

namespace delos::kernel {

// What the nano_core learned and handed over.
struct Handover {
    pvh::BootInfo boot;
    std::uint64_t nano_core_start;  // boot-only memory to reclaim: [start, end)
    std::uint64_t nano_core_end;
    const char* native_mode_error = nullptr;  // kvm_pvm found but its native mode refused
};

// Runs on its own stack; never returns.
[[noreturn]] void kernel_main(const Handover* handover);

} // namespace delos::kernel
