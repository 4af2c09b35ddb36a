// dashboard_server.cpp: see dashboard_server.h.
#include "dashboard_server.h"

#include <CivetServer.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "dashboard_assets.h"

namespace delos::dashboard {

namespace {

const char* reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

// The page loads only its own files and talks only to this server.
constexpr const char* kSecurityHeaders =
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n";

void send(mg_connection* connection, int status, std::string_view content_type, std::string_view body, bool head,
          bool cacheable = false)
{
    mg_printf(connection,
              "HTTP/1.1 %d %s\r\n%sContent-Type: %.*s\r\nContent-Length: %zu\r\nCache-Control: %s\r\n%sConnection: close\r\n\r\n",
              status, reason(status), status == 405 ? "Allow: GET, HEAD\r\n" : "", static_cast<int>(content_type.size()), content_type.data(), body.size(),
              cacheable ? "max-age=60" : "no-store", kSecurityHeaders);
    if (!head && !body.empty())
        mg_write(connection, body.data(), body.size());
}

} // namespace

class DashboardServer::Handler : public CivetHandler {
public:
    explicit Handler(DashboardServer& owner) : m_owner(owner) {}

    bool handleGet(CivetServer*, mg_connection* connection) override { return serve(connection, false); }
    bool handleHead(CivetServer*, mg_connection* connection) override { return serve(connection, true); }
    bool handlePost(CivetServer*, mg_connection* connection) override { return refuse(connection); }
    bool handlePut(CivetServer*, mg_connection* connection) override { return refuse(connection); }
    bool handleDelete(CivetServer*, mg_connection* connection) override { return refuse(connection); }
    bool handlePatch(CivetServer*, mg_connection* connection) override { return refuse(connection); }
    bool handleOptions(CivetServer*, mg_connection* connection) override { return refuse(connection); }

private:
    static bool refuse(mg_connection* connection)
    {
        HttpResponse refused = json_error(405, "the dashboard is read-only: GET and HEAD only");
        send(connection, 405, refused.content_type, refused.body, false);
        return true;
    }

    bool serve(mg_connection* connection, bool head)
    {
        const mg_request_info* request = mg_get_request_info(connection);
        std::string_view path = request->local_uri ? request->local_uri : "/";
        std::string_view query = request->query_string ? request->query_string : "";
        if (path == "/api/stream" && !head)
            return stream(connection, query);
        if (path.rfind("/api/", 0) == 0) {
            HttpResponse response = m_owner.m_api.get(path, query);
            send(connection, response.status, response.content_type, response.body, head);
            return true;
        }
        if (const Asset* asset = find_asset(path)) {
            send(connection, 200, asset->content_type, asset->bytes, head, path != "/");
            return true;
        }
        HttpResponse missing = json_error(404, "no such page");
        send(connection, 404, missing.content_type, missing.body, head);
        return true;
    }

    // Server-sent events: "change" (data: the change count) whenever something the page shows
    // changed, at most a few per second; a comment every 15 s keeps proxies from closing it.
    bool stream(mg_connection* connection, std::string_view query)
    {
        if (!query.empty()) {
            HttpResponse bad = json_error(400, "query: /api/stream takes no parameters");
            send(connection, 400, bad.content_type, bad.body, false);
            return true;
        }
        if (++m_owner.m_streams > kMaxEventStreams) {
            --m_owner.m_streams;
            HttpResponse busy = json_error(503, "too many live streams; the page falls back to polling");
            send(connection, 503, busy.content_type, busy.body, false);
            return true;
        }
        mg_printf(connection,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n%s"
                  "Connection: close\r\n\r\nretry: 2000\n\n",
                  kSecurityHeaders);
        std::uint64_t seen = m_owner.m_fleet.changes();
        std::string first = "event: change\ndata: " + std::to_string(seen) + "\n\n";
        bool open = mg_write(connection, first.data(), first.size()) > 0;
        auto last_write = std::chrono::steady_clock::now();
        while (open && !m_owner.m_stopping) {
            std::uint64_t now = m_owner.m_fleet.wait_for_change(seen, std::chrono::milliseconds(500));
            if (m_owner.m_stopping)
                break;
            std::string message;
            if (now != seen) {
                seen = now;
                message = "event: change\ndata: " + std::to_string(now) + "\n\n";
            } else if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(15)) {
                message = ": keep-alive\n\n";
            }
            if (!message.empty()) {
                open = mg_write(connection, message.data(), message.size()) > 0;
                last_write = std::chrono::steady_clock::now();
                std::this_thread::sleep_for(std::chrono::milliseconds(250));  // coalesce a storm
            }
        }
        --m_owner.m_streams;
        return true;
    }

    DashboardServer& m_owner;
};

DashboardServer::DashboardServer(const std::string& address, Fleet& fleet)
    : m_fleet(fleet), m_api(fleet), m_handler(std::make_unique<Handler>(*this))
{
    std::vector<std::string> options = {
        "listening_ports", address,
        "num_threads", std::to_string(kMaxEventStreams + 8),
        "request_timeout_ms", "15000",
        "enable_directory_listing", "no",
    };
    try {
        m_server = std::make_unique<CivetServer>(options);
    } catch (const CivetException& error) {
        throw std::runtime_error("dashboard: cannot listen on " + address + ": " + error.what());
    }
    m_server->addHandler("/", *m_handler);
}

DashboardServer::~DashboardServer()
{
    m_stopping = true;
    if (m_server)
        m_server->close();
    m_server.reset();
}

std::vector<int> DashboardServer::listening_ports() { return m_server ? m_server->getListeningPorts() : std::vector<int>{}; }

} // namespace delos::dashboard
