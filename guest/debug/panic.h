// panic.h: the end of the line for a kernel bug: report it, with a backtrace, and stop the VM.
#pragma once

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos {

[[noreturn]] void panic(StringView message);
[[noreturn]] void panic(StringView context, const Error& error);

// For invariants that must hold; cheap enough to stay on in release builds.
#define DELOS_ASSERT(condition)                                                  \
    do {                                                                         \
        if (!(condition)) [[unlikely]]                                           \
            ::delos::panic("assertion failed: " #condition " at " __FILE__);    \
    } while (0)

} // namespace delos
