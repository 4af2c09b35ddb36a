// qmp_client.h: a minimal QEMU Machine Protocol client on a unix socket, for what delosd asks of
// the QEMU processes it starts itself (saving a clone template, restoring a clone): one command
// at a time, its reply; asynchronous events are skipped. QEMU's replies are bounded (1 MiB a line).
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace delos::controller {

class QmpClient {
public:
    // Connects (retrying until `deadline`: QEMU creates the socket while it starts), reads the
    // greeting and leaves capabilities negotiation. `still_worth_waiting` is asked between
    // attempts (false: the process died or a stop was requested). Throws std::runtime_error.
    QmpClient(const std::string& socket_path, std::chrono::steady_clock::time_point deadline,
              const std::function<bool()>& still_worth_waiting = {});
    ~QmpClient();
    QmpClient(const QmpClient&) = delete;
    QmpClient& operator=(const QmpClient&) = delete;

    // Sends one JSON command, returns its reply line. A reply with "error" throws, with QEMU's text.
    std::string command(const std::string& json);

private:
    std::string line();

    int m_fd = -1;
    std::chrono::steady_clock::time_point m_deadline;
    std::string m_buffer;
};

} // namespace delos::controller
