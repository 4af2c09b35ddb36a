// fleet_harness.cpp: see fleet_harness.h.
#include "fleet_harness.h"

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

namespace delos::test {

namespace {

bool run_ok(const std::vector<std::string>& argv)
{
    return run_child(argv).exit_code == 0;
}

bool make_ca(const std::string& dir, const std::string& name)
{
    return run_ok({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
                   "1", "-subj", "/CN=" + name, "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".pem"});
}

bool make_cert(const std::string& dir, const std::string& name, bool server)
{
    write_file(dir + "/" + name + ".ext", server ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                                                 : "extendedKeyUsage=clientAuth\n");
    return run_ok({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                   "/CN=" + name, "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".csr"})
        && run_ok({"openssl", "x509", "-req", "-in", dir + "/" + name + ".csr", "-CA", dir + "/ca.pem", "-CAkey",
                   dir + "/ca.key", "-CAcreateserial", "-days", "1", "-extfile", dir + "/" + name + ".ext", "-out",
                   dir + "/" + name + ".pem"});
}

} // namespace

int free_tcp_port()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0)
        port = ntohs(address.sin_port);
    ::close(fd);
    return port;
}

Fleet::Fleet(const std::string& dir, std::vector<std::string> names, std::vector<std::string> extra)
    : m_dir(dir), m_names(std::move(names))
{
    std::string tls = dir + "/tls";
    std::filesystem::create_directories(tls);
    m_ready = make_ca(tls, "ca") && make_cert(tls, "server", true) && make_cert(tls, "alice", false)
           && make_cert(tls, "coordinator", false);
    std::string hosts;
    std::vector<int> ports;
    for (const std::string& name : m_names) {
        ports.push_back(free_tcp_port());
        hosts += std::string(hosts.empty() ? "" : ",\n") + "    {\"name\": \"" + name + "\", \"address\": \"tcp:127.0.0.1:"
               + std::to_string(ports.back()) + "\"}";
    }
    auto fleet_json = [&](const std::string& client) {
        return "{\n  \"hosts\": [\n" + hosts + "\n  ],\n  \"tls\": {\"ca\": \"tls/ca.pem\", \"cert\": \"tls/" + client
             + ".pem\", \"key\": \"tls/" + client + ".key\"},\n  \"coordinator\": \"" + m_names.front() + "\"\n}\n";
    };
    write_file(dir + "/fleet.json", fleet_json("alice"));
    write_file(dir + "/peers.json", fleet_json("coordinator"));
    for (std::size_t i = 0; i < m_names.size(); ++i) {
        std::string host_dir = dir + "/" + m_names[i];
        std::filesystem::create_directories(host_dir);
        std::vector<std::string> options = extra;
        options.insert(options.end(), {"--listen", "tcp:127.0.0.1:" + std::to_string(ports[i]), "--tls-cert", tls + "/server.pem",
                                       "--tls-key", tls + "/server.key", "--client-ca", tls + "/ca.pem", "--fleet",
                                       dir + "/peers.json", "--fleet-name", m_names[i]});
        m_hosts.push_back(std::make_unique<Delosd>(host_dir, options));
    }
}

bool Fleet::start_all()
{
    for (auto& host : m_hosts)
        if (!host->start())
            return false;
    return true;
}

std::string Fleet::logs() const
{
    std::string all;
    for (std::size_t i = 0; i < m_hosts.size(); ++i)
        all += "----- delosd " + m_names[i] + "\n" + m_hosts[i]->log();
    return all;
}

ChildResult Fleet::ctl(const std::vector<std::string>& args, std::chrono::milliseconds limit) const
{
    std::vector<std::string> all = {"--fleet", fleet_file(), "--timeout", "10"};
    all.insert(all.end(), args.begin(), args.end());
    return delosctl(m_hosts.front()->server(), all, limit);
}

v1::Rollout Fleet::rollout(std::uint64_t id)
{
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetRolloutRequest request;
    request.set_id(id);
    v1::Rollout response;
    m_hosts.front()->stub()->GetRollout(&context, request, &response);
    return response;
}

} // namespace delos::test
