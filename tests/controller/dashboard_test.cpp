// dashboard_test.cpp: delosd's fault dashboard over real HTTP against a real delosd: a store of
// 3000 faults grouped into buckets and walked page by page through the JSON API, a live fault
// from a guest announced on /api/stream and found in its bucket, requests no browser would send
// (other methods, path tricks, an oversized target, garbage) answered without harm, and a fleet:
// a second delosd over mutual TLS shown with its guests and faults, an unreachable one shown
// as such, and a host that goes away marked unreachable while the rest stay.
#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <regex>
#include <set>

#include "dashboard_harness.h"
#include "fault_store.h"
#include "scripted_guest.h"
#include "skip_unless.h"

namespace delos::test {
namespace {

constexpr int kStoredFaults = 3000;
constexpr int kStoredBuckets = 40;  // (cell i%5, symbol i%40): fixed by i%40

void store_faults(const std::string& state_dir)
{
    controller::FaultStore store(state_dir);
    for (int i = 1; i <= kStoredFaults; ++i) {
        v1::FaultReport report = make_fault("c" + std::to_string(i % 5), v1::FAULT_KIND_PAGE_FAULT, "stored " + std::to_string(i));
        report.set_symbol("fn" + std::to_string(i % 40));
        report.set_symbol_offset(0x10);
        ASSERT_TRUE(store.add_fault("v" + std::to_string(i % 4), 1, static_cast<std::uint64_t>(i), 1000, report));
    }
}

TEST(Dashboard, ThousandsOfStoredFaultsAreGroupedAndPagedServerSide)
{
    TempDir dir;
    store_faults(dir / "state");
    Delosd delosd(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--fleet-name", "alpha"});
    ASSERT_TRUE(delosd.start()) << delosd.log();
    int port = dashboard_port(delosd);
    ASSERT_GT(port, 0) << delosd.log();

    ASSERT_TRUE(eventually([&] { return json_number(http_get(port, "/api/overview").body, "faults") == kStoredFaults; },
                           std::chrono::seconds(30)))
        << http_get(port, "/api/overview").body;

    // Bucket pages, 7 at a time, most faults first: every bucket once, every fault counted.
    std::set<long long> ids;
    long long faults = 0, previous_count = LLONG_MAX;
    std::string target = "/api/buckets?sort=count&limit=7";
    for (int page = 0; page < 20; ++page) {
        HttpResult result = http_get(port, target);
        ASSERT_EQ(result.status, 200) << result.body;
        EXPECT_EQ(json_number(result.body, "total"), kStoredBuckets) << result.body;
        EXPECT_EQ(json_number(result.body, "faults"), kStoredFaults) << result.body;
        for (long long id : json_numbers(result.body, "id"))
            EXPECT_TRUE(ids.insert(id).second) << "bucket " << id << " on two pages";
        for (long long count : json_numbers(result.body, "count")) {
            EXPECT_LE(count, previous_count);
            previous_count = count;
            faults += count;
        }
        long long next = json_number(result.body, "next_offset");
        if (next < 0)
            break;
        target = "/api/buckets?sort=count&limit=7&offset=" + std::to_string(next);
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(kStoredBuckets));
    EXPECT_EQ(faults, kStoredFaults);

    // One bucket's faults, 20 a page, newest first, each once.
    HttpResult top = http_get(port, "/api/buckets?sort=count&limit=1");
    long long bucket = json_number(top.body, "id"), count = json_number(top.body, "count");
    ASSERT_GE(bucket, 0) << top.body;
    std::set<long long> sequences;
    std::string faults_target = "/api/faults?limit=20&bucket=" + std::to_string(bucket);
    for (int page = 0; page < 100; ++page) {
        HttpResult result = http_get(port, faults_target);
        ASSERT_EQ(result.status, 200) << result.body;
        for (long long sequence : json_numbers(result.body, "sequence"))
            EXPECT_TRUE(sequences.insert(sequence).second);
        long long next = json_number(result.body, "next_before");
        if (next < 0)
            break;
        faults_target = "/api/faults?limit=20&bucket=" + std::to_string(bucket) + "&before=" + std::to_string(next);
    }
    EXPECT_EQ(static_cast<long long>(sequences.size()), count);

    // The full report of one, straight from the store through the gRPC service.
    HttpResult report = http_get(port, "/api/fault?sequence=41");
    ASSERT_EQ(report.status, 200) << report.body;
    EXPECT_NE(report.body.find("\"bucket_frame\":\"fn1+0x10\""), std::string::npos) << report.body;
    EXPECT_NE(report.body.find("\"message\":\"stored 41\""), std::string::npos) << report.body;
    EXPECT_NE(report.body.find("\"host\":\"alpha\""), std::string::npos) << report.body;

    HttpResult timeline = http_get(port, "/api/timeline?window_s=3600&slots=10");
    long long in_timeline = 0;
    std::smatch counts;
    ASSERT_TRUE(std::regex_search(timeline.body, counts, std::regex("\"counts\":\\[([0-9,]*)\\]"))) << timeline.body;
    std::string list = counts[1];
    std::regex number("[0-9]+");
    for (auto it = std::sregex_iterator(list.begin(), list.end(), number); it != std::sregex_iterator(); ++it)
        in_timeline += std::stoll((*it)[0]);
    EXPECT_EQ(in_timeline, kStoredFaults) << timeline.body;  // all stored within the last hour
}

TEST(Dashboard, ServesThePageAndRefusesWhatItDoesNotServe)
{
    TempDir dir;
    Delosd delosd(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0"});
    ASSERT_TRUE(delosd.start()) << delosd.log();
    int port = dashboard_port(delosd);
    ASSERT_GT(port, 0) << delosd.log();

    HttpResult page = http_get(port, "/");
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.headers.find("Content-Type: text/html"), std::string::npos) << page.headers;
    EXPECT_NE(page.headers.find("Content-Security-Policy: default-src 'none'; script-src 'self'"), std::string::npos)
        << page.headers;
    EXPECT_NE(page.body.find("<script src=\"/app.js\""), std::string::npos);
    HttpResult script = http_get(port, "/app.js");
    EXPECT_EQ(script.status, 200);
    EXPECT_NE(script.body.find("EventSource"), std::string::npos);
    EXPECT_EQ(http_get(port, "/style.css").status, 200);

    EXPECT_EQ(http_get(port, "/../../etc/passwd").body.find("root:"), std::string::npos);
    EXPECT_EQ(http_get(port, "/%2e%2e/%2e%2e/etc/passwd").body.find("root:"), std::string::npos);
    EXPECT_EQ(http_get(port, "/nothing").status, 404);
    EXPECT_EQ(http_get(port, "/api/nothing").status, 404);
    HttpResult bad = http_get(port, "/api/buckets?limit=abc");
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("decimal number"), std::string::npos) << bad.body;
    HttpResult post = http_exchange(port, "POST /api/buckets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    EXPECT_EQ(post.status, 405) << post.headers;
    EXPECT_NE(post.headers.find("Allow: GET, HEAD"), std::string::npos) << post.headers;
    HttpResult huge = http_get(port, "/api/buckets?cell=" + std::string(64 * 1024, 'a'));
    EXPECT_NE(huge.status, 200) << huge.headers;
    http_exchange(port, std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 17), std::chrono::seconds(2));
    http_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n", std::chrono::milliseconds(300));  // never finished
    EXPECT_EQ(http_get(port, "/api/overview").status, 200) << "the server stopped answering";
}

TEST(Dashboard, ALiveFaultIsAnnouncedAndLandsInItsBucket)
{
    TempDir dir;
    Delosd delosd(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--fleet-name", "alpha"});
    ASSERT_TRUE(delosd.start()) << delosd.log();
    int port = dashboard_port(delosd);
    ScriptedGuest guest(dir / "g.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "live", dir / "g.sock"));

    EventStream stream(port);
    ASSERT_TRUE(stream.wait_for("event: change", 1, std::chrono::seconds(10))) << stream.received();
    EXPECT_NE(stream.received().find("Content-Type: text/event-stream"), std::string::npos) << stream.received();
    int before = count_occurrences(stream.received(), "event: change");
    v1::FaultReport report = make_fault("kv", v1::FAULT_KIND_GENERAL_PROTECTION, "live one");
    ASSERT_TRUE(guest.send_fault(1, report));
    ASSERT_TRUE(stream.wait_for("event: change", before + 1, std::chrono::seconds(10))) << stream.received();
    ASSERT_TRUE(eventually([&] { return http_get(port, "/api/buckets").body.find("\"frame\":\"kv::put+0x2a\"") != std::string::npos; }))
        << http_get(port, "/api/buckets").body;
    HttpResult buckets = http_get(port, "/api/buckets");
    EXPECT_NE(buckets.body.find("\"guests\":[{\"host\":\"alpha\",\"vm\":\"live\",\"faults\":1}]"), std::string::npos) << buckets.body;
    EXPECT_NE(buckets.body.find("\"kinds\":[\"FAULT_KIND_GENERAL_PROTECTION\"]"), std::string::npos) << buckets.body;
    ASSERT_TRUE(guest.send_fault(2, report));
    ASSERT_TRUE(eventually([&] { return json_number(http_get(port, "/api/buckets").body, "count") == 2; })) << http_get(port, "/api/buckets").body;
    // The guest as the next poll of the VM table sees it.
    EXPECT_TRUE(eventually([&] {
        return http_get(port, "/api/hosts").body.find("\"name\":\"live\",\"runner\":\"attach\",\"state\":\"VM_STATE_RUNNING\"")
            != std::string::npos;
    })) << http_get(port, "/api/hosts").body;
}

TEST(DashboardFleet, ShowsEveryHostAndMarksTheUnreachableOnes)
{
    DELOS_REQUIRE_OPENSSL();
    TempDir dir;
    std::string error;
    ASSERT_TRUE(make_test_pki(dir.path(), error)) << error;
    std::filesystem::create_directories(dir / "b");
    Delosd beta(dir / "b", {"--allow-unsigned", "--listen", "tcp:127.0.0.1:0", "--tls-cert",
                             dir / "server.pem", "--tls-key", dir / "server.key", "--client-ca", dir / "ca.pem"});
    ASSERT_TRUE(beta.start()) << beta.log();
    int beta_port = beta.tcp_port();
    ASSERT_GT(beta_port, 0) << beta.log();
    ScriptedGuest guest(dir / "b1.sock");
    ASSERT_TRUE(attach_running_vm(beta, "b1", dir / "b1.sock"));
    ASSERT_TRUE(guest.send_fault(1, make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "on beta")));

    // The fleet file every host would share; relative TLS paths; a host nothing listens on.
    write_file(dir / "fleet.json", R"({"hosts": [
        {"name": "alpha", "address": "unix:)" + (dir / "d.sock") + R"("},
        {"name": "beta", "address": "tcp:127.0.0.1:)" + std::to_string(beta_port) + R"("},
        {"name": "gamma", "address": "tcp:127.0.0.1:1"}],
      "tls": {"ca": "ca.pem", "cert": "client.pem", "key": "client.key"}})");
    Delosd alpha(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--fleet-name", "alpha", "--fleet",
                              dir / "fleet.json"});
    ASSERT_TRUE(alpha.start()) << alpha.log();
    int port = dashboard_port(alpha);
    ASSERT_GT(port, 0) << alpha.log();

    auto host_json = [&](const std::string& name) {
        std::string body = http_get(port, "/api/hosts?host=" + name).body;
        return body;
    };
    ASSERT_TRUE(eventually([&] { return host_json("beta").find("\"name\":\"b1\"") != std::string::npos; }, std::chrono::seconds(20)))
        << host_json("beta");
    EXPECT_NE(host_json("beta").find("\"reachable\":true"), std::string::npos) << host_json("beta");
    ASSERT_TRUE(eventually([&] { return host_json("gamma").find("\"polled_unix_ms\":0") == std::string::npos; })) << host_json("gamma");
    EXPECT_NE(host_json("gamma").find("\"reachable\":false"), std::string::npos) << host_json("gamma");
    EXPECT_NE(host_json("gamma").find("UNAVAILABLE"), std::string::npos) << host_json("gamma");
    EXPECT_NE(host_json("alpha").find("\"local\":true"), std::string::npos) << host_json("alpha");
    EXPECT_EQ(json_number(http_get(port, "/api/overview").body, "hosts"), 3) << "alpha's own entry in the file is not a second host";

    ASSERT_TRUE(eventually([&] { return http_get(port, "/api/buckets").body.find("\"host\":\"beta\",\"vm\":\"b1\"") != std::string::npos; }))
        << http_get(port, "/api/buckets").body;
    HttpResult report = http_get(port, "/api/fault?host=beta&sequence=1");
    ASSERT_EQ(report.status, 200) << report.body;
    EXPECT_NE(report.body.find("\"message\":\"on beta\""), std::string::npos) << report.body;
    EXPECT_EQ(http_get(port, "/api/fault?host=gamma&sequence=1").status, 502);

    if (HeadlessChromium::available()) {
        HeadlessChromium browser;
        std::string url = "http://127.0.0.1:" + std::to_string(port) + "/?live=poll";
        ChildResult dom = browser.dump_dom(url);
        std::string hosts = dom_section(dom.out, "hosts");
        EXPECT_NE(hosts.find("b1"), std::string::npos) << dom.out << dom.err;
        EXPECT_NE(hosts.find("gamma"), std::string::npos) << hosts;
        EXPECT_NE(hosts.find("unreachable"), std::string::npos) << hosts;
        std::string png = dashboard_artifacts_dir() + "/fleet.png";
        EXPECT_TRUE(browser.screenshot(url, png));
        std::printf("dashboard screenshot: %s\n", png.c_str());
    } else {
        std::printf("NOTE: chromium is not installed; the fleet page was checked through the API only\n");
    }

    beta.kill9();
    ASSERT_TRUE(eventually([&] { return host_json("beta").find("\"reachable\":false") != std::string::npos; }, std::chrono::seconds(20)))
        << host_json("beta");
    EXPECT_NE(http_get(port, "/api/buckets").body.find("\"host\":\"beta\""), std::string::npos) << "beta's faults stay shown";
    EXPECT_NE(host_json("alpha").find("\"reachable\":true"), std::string::npos);
}

TEST(DashboardFleet, ABadFleetFileStopsDelosdWithTheReason)
{
    TempDir dir;
    write_file(dir / "fleet.json", R"({"hosts": [{"name": "b", "address": "tcp:127.0.0.1:9"}]})");
    Delosd delosd(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--fleet", dir / "fleet.json"});
    EXPECT_FALSE(delosd.start());
    EXPECT_NE(delosd.log().find("give tls.ca, tls.cert and tls.key"), std::string::npos) << delosd.log();
    write_file(dir / "fleet.json", R"({"hosts": [{"name": "B!", "address": "unix:/x"}]})");
    EXPECT_FALSE(delosd.start());
    EXPECT_NE(delosd.log().find("is not [a-z0-9][a-z0-9_-]{0,62}"), std::string::npos) << delosd.log();
    write_file(dir / "fleet.json", R"({"hosts": [{"name": "b", "address": "unix:/x", "tsl_server_name": "b"}]})");
    EXPECT_FALSE(delosd.start());
    EXPECT_NE(delosd.log().find("tsl_server_name"), std::string::npos) << "a typo is refused, not ignored: " << delosd.log();
    write_file(dir / "fleet.json", R"({"hosts": [{"name": "b", "address": "unix:/x"}]})");
    Delosd stranger(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--fleet", dir / "fleet.json",
                                 "--fleet-name", "zeta"});
    EXPECT_FALSE(stranger.start());
    EXPECT_NE(stranger.log().find("--fleet-name zeta is not a host of"), std::string::npos) << stranger.log();
    write_file(dir / "fleet.json", "not json");
    EXPECT_FALSE(delosd.start());
    EXPECT_NE(delosd.log().find("not a fleet file"), std::string::npos) << delosd.log();
}

// The dashboard once had its own fleet options; they are refused with the ones to use instead.
TEST(DashboardFleet, TheDashboardsOldFleetOptionsSayWhatToUse)
{
    TempDir dir;
    write_file(dir / "fleet.json", R"({"hosts": [{"name": "a", "address": "unix:/x"}]})");
    Delosd old_fleet(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--dashboard-fleet", dir / "fleet.json"});
    EXPECT_FALSE(old_fleet.start());
    EXPECT_NE(old_fleet.log().find("--dashboard-fleet is gone: give the fleet file with --fleet FILE"), std::string::npos)
        << old_fleet.log();
    Delosd old_name(dir.path(), {"--allow-unsigned", "--dashboard", "127.0.0.1:0", "--host-name", "a"});
    EXPECT_FALSE(old_name.start());
    EXPECT_NE(old_name.log().find("--host-name is gone: give this delosd's name in its fleet with --fleet-name NAME"),
              std::string::npos)
        << old_name.log();
}

} // namespace
} // namespace delos::test
