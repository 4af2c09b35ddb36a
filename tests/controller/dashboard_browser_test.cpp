// dashboard_browser_test.cpp: the dashboard in a real browser against real guests: delosd runs
// two Delos guests under QEMU (TCG here), headless Chromium from Debian loads the page and the
// test reads the rendered DOM: both guests running with their uptime, then a fault injected
// during the test (cells/init_faults, whose init writes through a null pointer, pushed with
// --load) appears in its bucket (cell@version, faulting frame, count, guest), a second one on
// the other guest joins the same bucket, and the full report with its backtrace renders one
// click away. Screenshots go to build/test-artifacts/dashboard/ (the test prints the paths).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>

#include "dashboard_harness.h"
#include "skip_unless.h"

namespace delos::test {
namespace {

class DashboardBrowser : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!HeadlessChromium::available())
            GTEST_SKIP() << "SKIPPED: chromium is not installed (scripts/bootstrap installs it); the dashboard was not "
                            "checked in a browser";
        DELOS_REQUIRE_QEMU();
        guest = guest_build_dir();
        ASSERT_TRUE(std::filesystem::exists(guest + "/guest/delos.elf")) << "the guest is not built (cmake --build build --target guest cells)";
        ASSERT_TRUE(delosd.start()) << delosd.log();
        port = dashboard_port(delosd);
        ASSERT_GT(port, 0) << delosd.log();
        url = "http://127.0.0.1:" + std::to_string(port) + "/?live=poll";
    }

    void start_guest(const std::string& name)
    {
        auto created = delosctl(delosd.server(), {"vm", "create", name, "--runner", "qemu", "--kernel", guest + "/guest/delos.elf",
                                                  "--module", guest + "/cells/cells.a", "--cmdline", "run"});
        ASSERT_EQ(created.exit_code, 0) << created.err;
    }

    std::string snapshot(const std::string& name)
    {
        std::string png = dashboard_artifacts_dir() + "/" + name + ".png";
        EXPECT_TRUE(browser.screenshot(url, png)) << "no screenshot at " << png;
        std::printf("dashboard screenshot: %s\n", png.c_str());
        return png;
    }

    TempDir dir;
    Delosd delosd{dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--fleet-name", "testhost"}};
    HeadlessChromium browser;
    std::string guest, url;
    int port = 0;
};

TEST_F(DashboardBrowser, RealGuestsAndAFaultInjectedDuringTheTestAppearInTheirBucket)
{
    start_guest("q1");
    start_guest("q2");
    auto running = [&](const std::string& vm) { return vm_state(delosd.server(), vm) == "VM_STATE_RUNNING"; };
    ASSERT_TRUE(eventually([&] { return running("q1") && running("q2"); }, std::chrono::seconds(180)))
        << read_file(dir / "state/vms/q1/serial.log") << read_file(dir / "state/vms/q2/serial.log") << delosd.log();
    // The dashboard's poll has seen both running and their stats.
    ASSERT_TRUE(eventually([&] {
        std::string hosts = http_get(port, "/api/hosts").body;
        return count_occurrences(hosts, "\"state\":\"VM_STATE_RUNNING\"") == 2 && hosts.find("\"uptime_ms\":null") == std::string::npos;
    }, std::chrono::seconds(30))) << http_get(port, "/api/hosts").body;

    ChildResult before = browser.dump_dom(url);
    ASSERT_EQ(before.exit_code, 0) << before.err;
    ASSERT_NE(before.out.find("data-loaded=\"yes\""), std::string::npos) << "the page's script did not finish:\n" << before.out;
    std::string hosts = dom_section(before.out, "hosts");
    EXPECT_NE(hosts.find("testhost"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("<td>q1</td><td>qemu</td><td class=\"state-VM_STATE_RUNNING\">running</td>"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("<td>q2</td><td>qemu</td><td class=\"state-VM_STATE_RUNNING\">running</td>"), std::string::npos) << hosts;
    EXPECT_TRUE(std::regex_search(hosts, std::regex("running</td><td[^>]*>[0-9]+(s|m [0-9]+s)</td>"))) << "uptime: " << hosts;
    EXPECT_NE(dom_section(before.out, "buckets").find("no faults"), std::string::npos) << dom_section(before.out, "buckets");
    EXPECT_NE(dom_section(before.out, "rollouts").find("none"), std::string::npos);
    std::string cells = dom_section(before.out, "cells");
    EXPECT_NE(cells.find("testhost/q1"), std::string::npos) << "the boot cells and where they run: " << cells;
    snapshot("before-fault");

    // The fault, injected now: a cell whose init faults, pushed and loaded into q1.
    auto pushed = delosctl(delosd.server(), {"push", guest + "/cells/init_faults.o", "--vm", "q1", "--load"});
    EXPECT_NE(pushed.exit_code, 0) << "a faulting init must fail the load: " << pushed.out;
    ASSERT_TRUE(eventually([&] { return json_number(http_get(port, "/api/overview").body, "faults") == 1; }, std::chrono::seconds(30)))
        << http_get(port, "/api/overview").body << delosd.log();

    ChildResult after = browser.dump_dom(url);
    std::string buckets = dom_section(after.out, "buckets");
    std::smatch row;
    ASSERT_TRUE(std::regex_search(buckets, row, std::regex("<tr class=\"clickable bucket\" id=\"bucket-([0-9]+)\"[^>]*>(.*?)</tr>")))
        << buckets;
    std::string bucket_id = row[1], bucket_row = row[2];
    EXPECT_NE(bucket_row.find("<td class=\"count\">1</td>"), std::string::npos) << bucket_row;
    EXPECT_NE(bucket_row.find("init_faults@1.0.0"), std::string::npos) << bucket_row;
    EXPECT_TRUE(std::regex_search(bucket_row, std::regex("write_through_null[^<]*\\+0x[0-9a-f]+"))) << bucket_row;
    EXPECT_NE(bucket_row.find("page-fault"), std::string::npos) << bucket_row;
    EXPECT_NE(bucket_row.find("testhost/q1"), std::string::npos) << bucket_row;
    EXPECT_NE(dom_section(after.out, "timeline").find("<rect"), std::string::npos) << dom_section(after.out, "timeline");
    snapshot("fault-in-bucket");

    // The same fault on the other guest: the same bucket, count 2, both guests.
    delosctl(delosd.server(), {"push", guest + "/cells/init_faults.o", "--vm", "q2", "--load"});
    ASSERT_TRUE(eventually([&] { return json_number(http_get(port, "/api/overview").body, "faults") == 2; }, std::chrono::seconds(30)))
        << http_get(port, "/api/overview").body;
    ChildResult twice = browser.dump_dom(url);
    std::string grouped = dom_section(twice.out, "buckets");
    EXPECT_EQ(count_occurrences(grouped, "class=\"clickable bucket\""), 1) << "the two faults must share one bucket: " << grouped;
    EXPECT_NE(grouped.find("<td class=\"count\">2</td>"), std::string::npos) << grouped;
    EXPECT_TRUE(grouped.find("testhost/q1, testhost/q2") != std::string::npos
                || grouped.find("testhost/q2, testhost/q1") != std::string::npos)
        << grouped;

    // One click away: the bucket's faults and the newest one's report with its backtrace.
    ChildResult detail = browser.dump_dom(url + "#bucket=" + bucket_id + "&fault=testhost:2");
    std::string faults = dom_section(detail.out, "bucket-detail");
    EXPECT_EQ(faults.rfind("<section id=\"bucket-detail\">", 0), 0u) << "the bucket is open: " << faults;
    EXPECT_EQ(count_occurrences(faults, "class=\"clickable fault\""), 2) << faults;
    std::string report = dom_section(detail.out, "report");
    EXPECT_NE(report.find("page-fault in cell init_faults@1.0.0"), std::string::npos) << report;
    EXPECT_NE(report.find("on vm q2 (host testhost"), std::string::npos) << report;
    EXPECT_TRUE(std::regex_search(report, std::regex("<td>#1</td><td class=\"mono\">0x[0-9a-f]+</td>"))) << "a backtrace: " << report;
    EXPECT_NE(report.find("(anonymous namespace)::write_through_null(int)"), std::string::npos) << "demangled: " << report;
    std::string png = dashboard_artifacts_dir() + "/fault-report.png";
    EXPECT_TRUE(browser.screenshot(url + "#bucket=" + bucket_id + "&fault=testhost:2", png));
    std::printf("dashboard screenshot: %s\n", png.c_str());

    delosctl(delosd.server(), {"vm", "stop", "q1"});
    delosctl(delosd.server(), {"vm", "stop", "q2"});
}

} // namespace
} // namespace delos::test
