// exit_counters.cpp: a one-line summary of VM exits.
#include "exit_counters.h"

#include <cstdio>

namespace delos::vmm {

namespace {

// " (label: 0xkey=count ...)" for a non-empty map of counts by address.
template <typename Counts>
std::string describe_counts(const char* label, const Counts& counts)
{
    if (counts.empty())
        return {};
    std::string text = std::string(" (") + label + ":";
    for (const auto& [key, count] : counts) {
        char entry[32];
        std::snprintf(entry, sizeof entry, " 0x%llx=%llu", static_cast<unsigned long long>(key),
                      static_cast<unsigned long long>(count));
        text += entry;
    }
    return text + ")";
}

} // namespace

std::string ExitCounters::describe() const
{
    std::string text = "exits " + std::to_string(total) + ":";
    for (const auto& [reason, count] : by_reason)
        text += " " + reason + "=" + std::to_string(count);
    return text + describe_counts("ports", by_port) + describe_counts("mmio", by_mmio_offset);
}

} // namespace delos::vmm
