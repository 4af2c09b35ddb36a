// metrics_test.cpp: delosd's /metrics in the Prometheus text format: VMs by state, pushes with
// their latency histogram, faults by VM/cell/kind; and the real Prometheus server from Debian,
// run with deploy/prometheus.yml's scrape job pointed at this delosd, gets a fault counter
// back through its query API.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "controller_harness.h"
#include "fake_guest.h"
#include "scripted_guest.h"

namespace delos::test {
namespace {

// GET http://127.0.0.1:PORT/PATH; the body, or "" on failure.
std::string http_get(int port, const std::string& path)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return "";
    }
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!::write(fd, request.data(), request.size());
    std::string response;
    char buffer[8192];
    for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;)
        response.append(buffer, static_cast<std::size_t>(got));
    ::close(fd);
    auto body = response.find("\r\n\r\n");
    return body == std::string::npos ? "" : response.substr(body + 4);
}

int free_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t size = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    ::close(fd);
    return ntohs(address.sin_port);
}

class Metrics : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(delosd.start()) << delosd.log();
        port = delosd.metrics_port();
        ASSERT_GT(port, 0) << delosd.log();
        ASSERT_TRUE(attach_running_vm(delosd, "m1", dir / "g.sock"));
    }
    TempDir dir;
    ScriptedGuest guest{dir / "g.sock"};
    Delosd delosd{dir.path(), {"--allow-unsigned", "--metrics", "127.0.0.1:0"}};
    int port = 0;
};

TEST_F(Metrics, ExpositionCountsVmsFaultsAndPushes)
{
    ASSERT_TRUE(guest.send_fault(1, make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "m")));
    ASSERT_TRUE(guest.send_fault(2, make_fault("kv", v1::FAULT_KIND_PAGE_FAULT, "m")));
    ASSERT_TRUE(eventually([&] {
        return http_get(port, "/metrics").find("delos_faults_total{cell=\"kv\",kind=\"page-fault\",vm=\"m1\"} 2")
            != std::string::npos;
    })) << http_get(port, "/metrics");
    std::string text = http_get(port, "/metrics");
    EXPECT_NE(text.find("delos_vms{state=\"running\"} 1"), std::string::npos) << text;

    chan::FakeGuest pushed_guest(dir / "p.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "m2", dir / "p.sock"));
    ASSERT_EQ(delosctl(delosd.server(), {"push", cell_object("hello"), "--vm", "m2", "--load"}).exit_code, 0);
    text = http_get(port, "/metrics");
    EXPECT_NE(text.find("delos_cell_pushes_total{result=\"ok\",vm=\"m2\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE delos_cell_push_seconds histogram"), std::string::npos) << text;
    EXPECT_NE(text.find("delos_cell_push_seconds_count{vm=\"m2\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("delos_cells{cell=\"hello\""), std::string::npos) << text;
}

TEST_F(Metrics, PrometheusScrapesAFaultCounter)
{
    if (!program_exists("prometheus"))
        GTEST_SKIP() << "SKIPPED: prometheus is not installed (scripts/bootstrap installs it)";
    ASSERT_TRUE(guest.send_fault(1, make_fault("kv", v1::FAULT_KIND_PANIC, "scraped")));
    // deploy/prometheus.yml, with this delosd's port and a fast interval.
    std::string config = read_file(std::string(DELOS_SOURCE_DIR) + "/deploy/prometheus.yml");
    ASSERT_NE(config.find("localhost:9464"), std::string::npos) << "deploy/prometheus.yml scrapes delosd on :9464";
    config = std::regex_replace(config, std::regex("localhost:9464"), "127.0.0.1:" + std::to_string(port));
    config = std::regex_replace(config, std::regex("scrape_interval: *[0-9]+s"), "scrape_interval: 1s");
    write_file(dir / "prometheus.yml", config);
    int web_port = free_port();
    BackgroundProcess prometheus({"prometheus", "--config.file=" + dir / "prometheus.yml",
                                  "--storage.tsdb.path=" + dir / "tsdb", "--web.listen-address=127.0.0.1:" + std::to_string(web_port)});
    std::string answer;
    bool found = eventually([&] {
        answer = http_get(web_port, "/api/v1/query?query=delos_faults_total%7Bvm%3D%22m1%22%7D");
        return std::regex_search(answer, std::regex("\"kind\":\"panic\".*\"value\":\\[[0-9.]+,\"1\"\\]"));
    }, std::chrono::seconds(60));
    EXPECT_TRUE(found) << answer << "\n" << prometheus.err();
}

} // namespace
} // namespace delos::test
