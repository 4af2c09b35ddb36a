// hello.cpp: a test-only cell (NOT_BOOT) whose init logs one line; pushed into a running guest
// to show that a new cell links against what is already there.
#include "lib/link/cell_info.h"
#include "log/log.h"

namespace {

delos::ErrorOr<void> hello_init()
{
    delos::log::info("hello from a cell loaded at run time");
    return {};
}

} // namespace

DELOS_CELL("hello", "1.0.0", hello_init, nullptr);
