// hello_service.h: the interface of the hello_service cell: a greeting, and how many it gave.
#pragma once

#include <cstdint>

#include "lib/core/string.h"
#include "lib/core/string_view.h"

namespace hello_service {

// The greeting for `who`. Version 1 says "hello, WHO"; version 2 "hello, WHO (from version 2)".
delos::String greet(delos::StringView who);
// Greetings given since this cell (this version) was loaded.
std::uint64_t greetings_given();

} // namespace hello_service
