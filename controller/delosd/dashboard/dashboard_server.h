// dashboard_server.h: delosd's dashboard over HTTP (civetweb, the server prometheus-cpp's
// /metrics already uses), on its own --dashboard HOST:PORT: the embedded page, the JSON API
// (dashboard_api.h) and /api/stream, server-sent events that tell the page when to refresh.
// Read-only: only GET and HEAD are served.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dashboard_api.h"
#include "fleet.h"

class CivetServer;

namespace delos::dashboard {

inline constexpr int kMaxEventStreams = 24;  // of the server's worker threads, the rest serve requests

class DashboardServer {
public:
    // Listens on `address` (HOST:PORT; port 0 picks one). Throws std::runtime_error if it cannot.
    DashboardServer(const std::string& address, Fleet& fleet);
    ~DashboardServer();
    DashboardServer(const DashboardServer&) = delete;
    DashboardServer& operator=(const DashboardServer&) = delete;

    std::vector<int> listening_ports();

    class Handler;

private:
    Fleet& m_fleet;
    DashboardApi m_api;
    std::atomic<bool> m_stopping{false};
    std::atomic<int> m_streams{0};
    std::unique_ptr<Handler> m_handler;
    std::unique_ptr<CivetServer> m_server;  // last: stopped first
};

} // namespace delos::dashboard
