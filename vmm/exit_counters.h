// exit_counters.h: VM exits by reason; every exit costs ~10 µs on a nested host, so we count them.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace delos::vmm {

struct ExitCounters {
    std::map<std::string, std::uint64_t> by_reason;
    std::map<std::uint16_t, std::uint64_t> by_port;
    std::map<std::uint16_t, std::uint64_t> by_mmio_offset;  // offset in the 4 KiB MMIO window
    std::uint64_t total = 0;

    void count(const std::string& reason) { ++by_reason[reason], ++total; }
    std::string describe() const;
};

} // namespace delos::vmm
