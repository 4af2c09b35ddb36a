// boot_timer.cpp: the first write is the ready moment; later writes are ignored.
#include "boot_timer.h"

#include <cstdio>

namespace delos::vmm {

void BootTimer::port_write(std::uint16_t, std::uint32_t, std::uint8_t)
{
    if (m_ready_after_ms)
        return;
    m_ready_after_ms = std::chrono::duration<double, std::milli>(Clock::now() - m_vmm_start).count();
    std::fprintf(stderr, "delos-vmm: boot-timer: guest ready %.3f ms after VMM start\n", *m_ready_after_ms);
}

} // namespace delos::vmm
