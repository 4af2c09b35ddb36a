// panic.h: the end of the line for a kernel bug: report it and stop the VM. The report's
// backtrace comes from a higher layer (debug/) through set_panic_reporter, so every layer can
// panic without depending on the symboliser.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos {

[[noreturn]] void panic(StringView message);
[[noreturn]] void panic(StringView context, const Error& error);

// Called once by panic() after the message, with the panicking frame's frame pointer: prints
// what it can (debug/ installs a symbolised backtrace). Must not allocate or take sleeping locks.
using PanicReporter = void (*)(std::uint64_t frame_pointer);
void set_panic_reporter(PanicReporter reporter);

// For invariants that must hold; cheap enough to stay on in release builds.
#define DELOS_ASSERT(condition)                                                  \
    do {                                                                         \
        if (!(condition)) [[unlikely]]                                           \
            ::delos::panic("assertion failed: " #condition " at " __FILE__);    \
    } while (0)

} // namespace delos
