// exit_counters.cpp: a one-line summary of VM exits.
#include "exit_counters.h"

#include <cstdio>

namespace delos::vmm {

std::string ExitCounters::describe() const
{
    std::string text = "exits " + std::to_string(total) + ":";
    for (const auto& [reason, count] : by_reason)
        text += " " + reason + "=" + std::to_string(count);
    if (!by_port.empty()) {
        text += " (ports:";
        for (const auto& [port, count] : by_port) {
            char entry[32];
            std::snprintf(entry, sizeof entry, " 0x%x=%llu", port, static_cast<unsigned long long>(count));
            text += entry;
        }
        text += ")";
    }
    if (!by_mmio_offset.empty()) {
        text += " (mmio:";
        for (const auto& [offset, count] : by_mmio_offset) {
            char entry[32];
            std::snprintf(entry, sizeof entry, " 0x%x=%llu", offset, static_cast<unsigned long long>(count));
            text += entry;
        }
        text += ")";
    }
    return text;
}

} // namespace delos::vmm
