// rollout_probe.cpp (rollout_probe 2.1.0, cells/rollout_probe.bad): a bad new version. It swaps
// in cleanly and is harmless while idle, but every call writes through a null pointer: under
// load it faults (a contained page fault reported to delosd), which a rollout must catch at the
// canary and roll back.
#include "rollout_probe/rollout_probe.h"

#include "linker/cell_info.h"

namespace delos::rollout_probe {

namespace {

volatile std::uint64_t g_null_address = 0;  // read at run time: the compiler cannot see the null

} // namespace

[[gnu::noinline]] std::uint64_t handle(std::uint64_t request)
{
    *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = request;
    return request + 2;
}

} // namespace delos::rollout_probe

DELOS_CELL("rollout_probe", "2.1.0", nullptr, nullptr);
