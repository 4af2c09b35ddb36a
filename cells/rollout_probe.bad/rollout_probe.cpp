// rollout_probe.cpp (rollout_probe 2.1.0, cells/rollout_probe.bad): a bad new version. It swaps
// in cleanly and is harmless while idle, but under load (from its 6th call on, ~0.1 s of
// rollout_load's calls) every call writes through a null pointer: a contained page fault
// reported to delosd, which a rollout must catch at the canary and roll back. (Not from the first
// call, so a rollout sees the swap succeed before the faults begin. A fault on the very first call
// is contained too: the unwind tables and recovery's rollback window are in place before the swap
// lets any task run the new code; checked by hand with a first-call variant, 10 runs.)
#include "rollout_probe/rollout_probe.h"

#include "linker/cell_info.h"

namespace delos::rollout_probe {

namespace {

volatile std::uint64_t g_null_address = 0;  // read at run time: the compiler cannot see the null
constexpr std::uint64_t kCallsBeforeFaulting = 5;
std::uint64_t g_calls = 0;

} // namespace

[[gnu::noinline]] std::uint64_t handle(std::uint64_t request)
{
    if (__atomic_add_fetch(&g_calls, 1, __ATOMIC_RELAXED) > kCallsBeforeFaulting)
        *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = request;
    return request + 2;
}

} // namespace delos::rollout_probe

DELOS_CELL("rollout_probe", "2.1.0", nullptr, nullptr);
