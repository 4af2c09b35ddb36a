// skip_unless.h: GoogleTest skips for a missing tool, with the reason printed loudly. The tools
// named here are the ones .ci/run prints in its environment header, so a CI log always says why
// a test skipped; never use these to hide a failure.
#pragma once

#include <gtest/gtest.h>

#include "child_process.h"

#define DELOS_REQUIRE_KVM()                                                                   \
    do {                                                                                      \
        if (!::delos::test::kvm_available())                                                  \
            GTEST_SKIP() << "SKIPPED: /dev/kvm is not available on this machine";            \
    } while (0)

#define DELOS_REQUIRE_QEMU()                                                                                 \
    do {                                                                                                     \
        if (!::delos::test::program_exists("qemu-system-x86_64"))                                            \
            GTEST_SKIP() << "SKIPPED: qemu-system-x86_64 is not installed (scripts/bootstrap installs it)"; \
    } while (0)

#define DELOS_REQUIRE_OPENSSL()                                                                             \
    do {                                                                                                    \
        if (!::delos::test::program_exists("openssl"))                                                      \
            GTEST_SKIP() << "SKIPPED: the openssl command is not installed (scripts/bootstrap installs it)"; \
    } while (0)
