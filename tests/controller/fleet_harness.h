// fleet_harness.h: a simulated fleet for the fleet tests: several real delosd processes, each
// with its own state directory, unix socket and TCP port (mutual TLS, certificates made with the
// openssl command), and two fleet files: fleet.json for the operator (client certificate
// "alice") and peers.json for the delosds themselves (client certificate "coordinator"), which
// every delosd gets with --fleet, so any of them can coordinate; the first host does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controller_harness.h"

namespace delos::test {

int free_tcp_port();

class Fleet {
public:
    // Makes the certificates and fleet files under `dir` and constructs (does not start) one
    // delosd per name; `extra` are more delosd options for every host.
    Fleet(const std::string& dir, std::vector<std::string> names, std::vector<std::string> extra = {"--allow-unsigned", "--allow-command-runner"});
    bool start_all();  // false if a delosd did not get ready (log() says why)
    Delosd& host(std::size_t index) { return *m_hosts[index]; }
    const std::string& name(std::size_t index) const { return m_names[index]; }
    std::size_t size() const { return m_hosts.size(); }
    std::string fleet_file() const { return m_dir + "/fleet.json"; }
    std::string logs() const;
    // delosctl --fleet fleet.json ARGS... (over TCP with mutual TLS)
    ChildResult ctl(const std::vector<std::string>& args, std::chrono::milliseconds limit = std::chrono::seconds(120)) const;
    // The coordinator's record of a rollout, over its unix socket.
    v1::Rollout rollout(std::uint64_t id);
    bool ready() const { return m_ready; }

private:
    std::string m_dir;
    std::vector<std::string> m_names;
    std::vector<std::unique_ptr<Delosd>> m_hosts;
    bool m_ready = false;
};

} // namespace delos::test
