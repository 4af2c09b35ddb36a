// init_fails.cpp: a test-only cell (NOT_BOOT) whose init returns an error, to show that a load
// whose init fails runs the destructors of what it constructed and leaves nothing loaded.
#include "linker/cell_info.h"
#include "log/log.h"

namespace {

// Constructed at load (a constructor runs), destroyed when the failed load is rolled back.
struct Witness {
    Witness() { delos::log::info("constructed"); }
    ~Witness() { delos::log::info("destroyed"); }
};
Witness g_witness;

delos::ErrorOr<void> init_fails_init()
{
    return delos::Error::make(delos::ErrorCode::Unsupported, "init_fails always refuses to start", 42);
}

} // namespace

DELOS_CELL("init_fails", "1.0.0", init_fails_init, nullptr);
