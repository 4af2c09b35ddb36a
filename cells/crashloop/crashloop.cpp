// crashloop.cpp: a test-only cell (NOT_BOOT) whose service task faults (a null write) as soon as
// it starts, every time: fault recovery restarts it, reloads the cell when it faults again within
// the window, and quarantines it after its reloads (tests/integration/recovery_channel_test.cpp
// watches the FaultReport actions arrive over the channel). The very first start waits 3 s, so
// the host can be listening; kv (which outlives reloads of this cell) counts the starts.
#include <cstdint>

#include "kv/kv.h"
#include "linker/cell_info.h"

extern "C" int delos_cell_service_start(const char* name, void (*entry)());
extern "C" bool delos_cell_service_pause(std::uint64_t nanoseconds);

namespace {

volatile std::uint64_t g_null_address = 0;  // read at run time: the compiler cannot see the null

[[gnu::noinline]] void crash_now() { *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = 1; }

void service()
{
    auto starts = delos::kv::add("crashloop/starts", 1);
    if (!starts.is_error() && starts.value() == 1 && delos_cell_service_pause(3'000'000'000ull))
        return;
    crash_now();
    (void)delos_cell_service_pause(0);  // not reached
}

delos::ErrorOr<void> crashloop_init()
{
    if (delos_cell_service_start("crashloop-svc", service) != 0)
        return delos::Error::make(delos::ErrorCode::Internal, "crashloop: its service task could not start");
    return {};
}

} // namespace

DELOS_CELL("crashloop", "1.0.0", crashloop_init, nullptr);
