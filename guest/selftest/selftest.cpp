// selftest.cpp: the registry of in-guest tests and their runner.
#include "selftest/selftest.h"

#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"

namespace delos::selftest {

// Each test file defines its cases; the list here is the whole suite, in order.
extern const TestCase kMemoryTests[];
extern const std::size_t kMemoryTestCount;
extern const TestCase kPagePermissionTests[];
extern const std::size_t kPagePermissionTestCount;
extern const TestCase kCellTests[];
extern const std::size_t kCellTestCount;
extern const TestCase kCellServiceTests[];
extern const std::size_t kCellServiceTestCount;
extern const TestCase kTaskTests[];
extern const std::size_t kTaskTestCount;
extern const TestCase kCpuTests[];
extern const std::size_t kCpuTestCount;
extern const TestCase kControlTests[];
extern const std::size_t kControlTestCount;
extern const TestCase kDeviceTests[];
extern const std::size_t kDeviceTestCount;
extern const TestCase kSwapTests[];
extern const std::size_t kSwapTestCount;
extern const TestCase kFaultTests[];
extern const std::size_t kFaultTestCount;
extern const TestCase kRecoveryTests[];
extern const std::size_t kRecoveryTestCount;

namespace {

struct Suite {
    const TestCase* cases;
    const std::size_t* count;
    // Runs only when the filter names it: it needs a module other than the boot set
    // (swap: build/cells/swap-test.a, which holds the other versions of cells; recovery:
    // build/cells/recovery-test.a).
    bool only_when_named = false;
};

const Suite kSuites[] = {
    {kMemoryTests, &kMemoryTestCount},
    {kPagePermissionTests, &kPagePermissionTestCount},
    {kCellTests, &kCellTestCount},
    {kCellServiceTests, &kCellServiceTestCount},
    {kTaskTests, &kTaskTestCount},
    {kCpuTests, &kCpuTestCount},
    {kControlTests, &kControlTestCount},
    {kDeviceTests, &kDeviceTestCount},
    {kSwapTests, &kSwapTestCount, true},
    {kFaultTests, &kFaultTestCount},
    {kRecoveryTests, &kRecoveryTestCount, true},  // build/cells/recovery-test.a (the faulty cell)
};

bool matches(const TestCase& test, StringView filter)
{
    if (filter.empty())
        return true;
    StringView suite(test.suite);
    if (filter.size() <= suite.size())
        return suite.starts_with(filter);
    return filter.starts_with(suite) && filter[suite.size()] == '.' &&
           StringView(test.name).starts_with(filter.substr(suite.size() + 1));
}

} // namespace

bool run_all(StringView filter)
{
    std::size_t passed = 0, failed = 0;
    for (const Suite& suite : kSuites) {
        for (std::size_t i = 0; i < *suite.count; ++i) {
            const TestCase& test = suite.cases[i];
            if (!matches(test, filter) || (suite.only_when_named && filter.empty()))
                continue;
            std::uint64_t start = tsc::nanoseconds_since_boot();
            auto result = test.function();
            std::uint64_t micros = (tsc::nanoseconds_since_boot() - start) / 1000;
            if (result.is_error()) {
                ++failed;
                const Error& error = result.error();
                kprint("selftest: FAIL {}.{}: {} ({}: {}){}{}\n", test.suite, test.name, error.message,
                       error_code_name(error.code), error.value, error.has_detail() ? ": " : "",
                       error.has_detail() ? error.detail.text() : StringView());
            } else {
                ++passed;
                kprint("selftest: ok   {}.{} ({} us)\n", test.suite, test.name, micros);
            }
        }
    }
    kprint("selftest: {} passed, {} failed\n", passed, failed);
    return failed == 0 && passed > 0;
}

} // namespace delos::selftest
