// vm_test_support.h: paths to the built artefacts and one-call VM runs for integration tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "child_process.h"

namespace delos::test {

inline std::string build_path(const std::string& relative) { return std::string(DELOS_BUILD_DIR) + "/" + relative; }
inline std::string vmm_path() { return build_path("bin/delos-vmm"); }
inline std::string kernel_path() { return build_path("guest/delos.elf"); }

inline ChildResult run_vmm(std::vector<std::string> arguments, std::chrono::milliseconds limit = std::chrono::seconds(120))
{
    arguments.insert(arguments.begin(), vmm_path());
    return run_child(arguments, {limit, "delos: ready"});
}

// GoogleTest skip with the reason printed loudly, for machines without KVM.
#define DELOS_REQUIRE_KVM()                                                                   \
    do {                                                                                      \
        if (!::delos::test::kvm_available())                                                  \
            GTEST_SKIP() << "SKIPPED: /dev/kvm is not available on this machine";            \
    } while (0)

// The same for machines without QEMU (scripts/test prints which of them this machine has).
#define DELOS_REQUIRE_QEMU()                                                                                 \
    do {                                                                                                     \
        if (!::delos::test::program_exists("qemu-system-x86_64"))                                            \
            GTEST_SKIP() << "SKIPPED: qemu-system-x86_64 is not installed (scripts/bootstrap installs it)"; \
    } while (0)

} // namespace delos::test
