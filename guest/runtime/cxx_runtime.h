// cxx_runtime.h: hooks into the C++ runtime support that other kernel parts install.
#pragma once

#include <cstdint>

namespace delos::runtime {

// Receives atexit() registrations (static destructors of cells); `caller` is the address in the
// code that registered `function`. Returns 0 on success, as atexit() does.
using AtExitHandler = int (*)(void (*function)(), std::uint64_t caller);
void set_atexit_handler(AtExitHandler handler);

} // namespace delos::runtime
