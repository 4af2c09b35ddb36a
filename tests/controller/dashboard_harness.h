// dashboard_harness.h: what the dashboard tests share: delosd's dashboard port from its log, a
// plain HTTP/1.1 client (so the tests also send what a browser never would), a server-sent
// events reader, headless Chromium (dump the rendered DOM, take screenshots into
// build/test-artifacts/dashboard/), a CA with server and client certificates for fleets.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "controller_harness.h"

namespace delos::test {

int dashboard_port(const Delosd& delosd);  // from the "dashboard listening ... port=N" line, 0 if none

struct HttpResult {
    int status = 0;          // 0: no answer
    std::string headers;
    std::string body;
};

// Sends `request` as is to 127.0.0.1:port and reads the answer until the server closes.
HttpResult http_exchange(int port, const std::string& request, std::chrono::milliseconds limit = std::chrono::seconds(10));
HttpResult http_get(int port, const std::string& target);

// Reads /api/stream as it arrives.
class EventStream {
public:
    explicit EventStream(int port);
    ~EventStream();
    // Waits until what arrived so far holds `needle` `count` times.
    bool wait_for(const std::string& needle, int count, std::chrono::milliseconds limit);
    const std::string& received() const { return m_received; }

private:
    int m_fd = -1;
    std::string m_received;
};

// The JSON number after "key": in `json` (the first one), or -1.
long long json_number(const std::string& json, const std::string& key);
// Every number after "key": in `json`.
std::vector<long long> json_numbers(const std::string& json, const std::string& key);
// The text of <section id="ID">...</section> in a dumped DOM, or "".
std::string dom_section(const std::string& dom, const std::string& id);

class HeadlessChromium {
public:
    static bool available();  // the chromium program is installed
    HeadlessChromium();
    // The DOM after the page ran for `budget_ms` of virtual time.
    ChildResult dump_dom(const std::string& url, int budget_ms = 4000);
    // Saves a PNG of the page; true if the file was written.
    bool screenshot(const std::string& url, const std::string& png_path, int budget_ms = 4000);

private:
    std::vector<std::string> common_args();
    TempDir m_profile;
};

// Where screenshots are kept: build/test-artifacts/dashboard (created).
std::string dashboard_artifacts_dir();

// A CA ("ca") with a server certificate ("server", for localhost and 127.0.0.1) and a client
// certificate ("client") in `dir`, made with the openssl command; false (with `error`) if it failed.
bool make_test_pki(const std::string& dir, std::string& error);

} // namespace delos::test
