// rollout_probe.cpp (rollout_probe 2.0.0, cells/rollout_probe.v2): the good new version a rollout
// takes to every guest. It carries a 48 KiB table so the object (~64 KiB with its debug information) is the 64 KiB cell the fleet
// benchmark's rollout figure asks for.
#include "rollout_probe/rollout_probe.h"

#include "linker/cell_info.h"

namespace delos::rollout_probe {

namespace {

constexpr std::uint64_t kTableBytes = 48 * 1024;

struct Table {
    std::uint8_t bytes[kTableBytes];
    constexpr Table() : bytes{}
    {
        for (std::uint64_t i = 0; i < kTableBytes; ++i)
            bytes[i] = static_cast<std::uint8_t>((i * 131 + 7) >> 3);
    }
};

// Writable data, not const: GCC copies a constant's value into .debug_info too, doubling the object.
Table g_table;

} // namespace

std::uint64_t handle(std::uint64_t request)
{
    volatile std::uint8_t sample = g_table.bytes[request % kTableBytes];  // keeps the table in the object
    (void)sample;
    return request + 2;
}

} // namespace delos::rollout_probe

DELOS_CELL("rollout_probe", "2.0.0", nullptr, nullptr);
