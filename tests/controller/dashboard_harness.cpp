// dashboard_harness.cpp: see dashboard_harness.h.
#include "dashboard_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

namespace delos::test {

namespace {

int connect_local(int port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Reads what is there within `limit`; false once the peer closed (or on error).
bool read_some(int fd, std::string& into, std::chrono::milliseconds limit)
{
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(limit.count())) <= 0)
        return true;
    char buffer[16384];
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got <= 0)
        return false;
    into.append(buffer, static_cast<std::size_t>(got));
    return true;
}

} // namespace

int dashboard_port(const Delosd& delosd)
{
    std::smatch match;
    std::string log = delosd.log();
    if (std::regex_search(log, match, std::regex("msg=\"dashboard listening\"[^\n]* port=([0-9]+)")))
        return std::stoi(match[1]);
    return 0;
}

HttpResult http_exchange(int port, const std::string& request, std::chrono::milliseconds limit)
{
    HttpResult result;
    int fd = connect_local(port);
    if (fd < 0)
        return result;
    std::size_t sent = 0;
    while (sent < request.size()) {
        ssize_t wrote = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (wrote <= 0)
            break;
        sent += static_cast<std::size_t>(wrote);
    }
    std::string response;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline && read_some(fd, response, std::chrono::milliseconds(100))) {
    }
    ::close(fd);
    std::smatch match;
    if (std::regex_search(response, match, std::regex("^HTTP/1\\.[01] ([0-9]{3})")))
        result.status = std::stoi(match[1]);
    auto split = response.find("\r\n\r\n");
    result.headers = response.substr(0, split);
    if (split != std::string::npos)
        result.body = response.substr(split + 4);
    return result;
}

HttpResult http_get(int port, const std::string& target)
{
    return http_exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

EventStream::EventStream(int port) : m_fd(connect_local(port))
{
    std::string request = "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    if (m_fd >= 0)
        ::send(m_fd, request.data(), request.size(), MSG_NOSIGNAL);
}

EventStream::~EventStream()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

bool EventStream::wait_for(const std::string& needle, int count, std::chrono::milliseconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (count_occurrences(m_received, needle) < count) {
        if (m_fd < 0 || std::chrono::steady_clock::now() > deadline)
            return false;
        if (!read_some(m_fd, m_received, std::chrono::milliseconds(100)))
            return count_occurrences(m_received, needle) >= count;
    }
    return true;
}

long long json_number(const std::string& json, const std::string& key)
{
    auto numbers = json_numbers(json, key);
    return numbers.empty() ? -1 : numbers.front();
}

std::vector<long long> json_numbers(const std::string& json, const std::string& key)
{
    std::vector<long long> numbers;
    std::regex pattern("\"" + key + "\":\"?([0-9]+)");
    for (auto it = std::sregex_iterator(json.begin(), json.end(), pattern); it != std::sregex_iterator(); ++it)
        numbers.push_back(std::stoll((*it)[1]));
    return numbers;
}

std::string dom_section(const std::string& dom, const std::string& id)
{
    auto start = dom.find("<section id=\"" + id + "\"");
    if (start == std::string::npos)
        return {};
    auto end = dom.find("</section>", start);
    return dom.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool HeadlessChromium::available() { return program_exists("chromium"); }

HeadlessChromium::HeadlessChromium() = default;

std::vector<std::string> HeadlessChromium::common_args()
{
    // --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
    return {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=" + m_profile.path(), "--window-size=1400,2000"};
}

ChildResult HeadlessChromium::dump_dom(const std::string& url, int budget_ms)
{
    auto argv = common_args();
    argv.push_back("--virtual-time-budget=" + std::to_string(budget_ms));
    argv.push_back("--dump-dom");
    argv.push_back(url);
    ChildOptions options;
    options.time_limit = std::chrono::seconds(120);
    return run_child(argv, options);
}

bool HeadlessChromium::screenshot(const std::string& url, const std::string& png_path, int budget_ms)
{
    std::error_code ignored;
    std::filesystem::remove(png_path, ignored);
    auto argv = common_args();
    argv.push_back("--virtual-time-budget=" + std::to_string(budget_ms));
    argv.push_back("--screenshot=" + png_path);
    argv.push_back(url);
    ChildOptions options;
    options.time_limit = std::chrono::seconds(120);
    run_child(argv, options);
    return std::filesystem::exists(png_path) && std::filesystem::file_size(png_path, ignored) > 0;
}

std::string dashboard_artifacts_dir()
{
    std::string dir = build_dir() + "/test-artifacts/dashboard";
    std::filesystem::create_directories(dir);
    return dir;
}

bool make_test_pki(const std::string& dir, std::string& error)
{
    auto run = [&](const std::vector<std::string>& argv) {
        auto result = run_child(argv);
        if (result.exit_code != 0)
            error += result.err;
        return result.exit_code == 0;
    };
    auto certificate = [&](const std::string& name, const std::string& extensions) {
        write_file(dir + "/" + name + ".ext", extensions);
        return run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                    "/CN=" + name, "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".csr"})
            && run({"openssl", "x509", "-req", "-in", dir + "/" + name + ".csr", "-CA", dir + "/ca.pem", "-CAkey",
                    dir + "/ca.key", "-CAcreateserial", "-days", "1", "-extfile", dir + "/" + name + ".ext", "-out",
                    dir + "/" + name + ".pem"});
    };
    return run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
                "1", "-subj", "/CN=ca", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"})
        && certificate("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        && certificate("client", "extendedKeyUsage=clientAuth\n");
}

} // namespace delos::test
