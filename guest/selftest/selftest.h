// selftest.h: in-guest tests (`delos-vmm --cmdline selftest`): each is a function returning an
// error value; the runner prints one line per test and a summary, and the VM exits pass/fail.
#pragma once

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::selftest {

using TestFunction = ErrorOr<void> (*)();

struct TestCase {
    const char* suite;
    const char* name;
    TestFunction function;
};

// Runs every registered test (optionally only those whose "suite.name" starts with `filter`).
bool run_all(StringView filter = StringView());

// Fails the enclosing test with the failed expression and its line.
#define SELFTEST_CHECK(condition)                                                                      \
    do {                                                                                               \
        if (!(condition))                                                                              \
            return ::delos::Error::make(::delos::ErrorCode::Internal, "check failed: " #condition, __LINE__); \
    } while (0)

// Fails the enclosing test if `expression` (an ErrorOr) is an error, else yields its value.
#define SELFTEST_TRY(expression) TRY(expression)

} // namespace delos::selftest
