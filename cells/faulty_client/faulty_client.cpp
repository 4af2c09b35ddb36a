// faulty_client.cpp: a test-only cell (NOT_BOOT) that uses faulty: its calls reach whichever
// copy of faulty its relocations point at, so tests see a reload re-point dependents (the fresh
// copy answers) and a quarantine refuse them (the call ends the calling task).
#include "faulty/faulty.h"
#include "linker/cell_info.h"

namespace delos::faulty_client {

namespace {
std::uint64_t g_calls_made = 0;
} // namespace

// Not a tail call: the client's frame stays on the stack, so a refused call names the client.
std::uint64_t call(int how)
{
    std::uint64_t value = faulty::serve(how);
    ++g_calls_made;
    return value;
}
std::uint64_t marker() { return faulty::marker(); }

} // namespace delos::faulty_client

DELOS_CELL("faulty_client", "1.0.0", nullptr, nullptr);
