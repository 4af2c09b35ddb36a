// controller_connection.cpp: see controller_connection.h.
#include "controller_connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace delos::controller {

std::string default_server()
{
    if (const char* server = std::getenv("DELOS_SERVER"); server && *server)
        return server;
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
        return std::string("unix:") + runtime + "/delosd.sock";
    return "unix:/run/delosd/delosd.sock";
}

std::pair<std::string, bool> grpc_target(const std::string& server)
{
    if (server.rfind("unix:", 0) == 0) {
        std::string path = server.substr(5);
        while (path.rfind("//", 0) == 0)
            path = path.substr(1);
        if (path.empty() || path[0] != '/')
            throw ConnectError("'" + server + "': a unix socket address is unix:/absolute/path");
        return {"unix:" + path, false};
    }
    std::string address = server.rfind("tcp:", 0) == 0 ? server.substr(4) : server;
    auto colon = address.rfind(':');
    if (address.empty() || colon == std::string::npos || colon + 1 == address.size())
        throw ConnectError("'" + server + "' is not unix:PATH or tcp:HOST:PORT");
    return {address, true};
}

std::string read_pem(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw ConnectError("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::shared_ptr<grpc::Channel> connect_controller(const ConnectOptions& options)
{
    auto [target, tcp] = grpc_target(options.server);
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(64 << 20);
    arguments.SetInt("grpc.http2.lookahead_bytes", 8 << 20);  // a whole cell in flight: pushes are not window-bound
    if (!tcp)
        return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
    if (options.tls_ca.empty() || options.tls_cert.empty() || options.tls_key.empty())
        throw ConnectError("delosd listens on TCP only with mutual TLS: give --tls-ca, --tls-cert and --tls-key");
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read_pem(options.tls_ca);
    ssl.pem_cert_chain = read_pem(options.tls_cert);
    ssl.pem_private_key = read_pem(options.tls_key);
    if (!options.tls_server_name.empty())
        arguments.SetSslTargetNameOverride(options.tls_server_name);
    return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), arguments);
}

} // namespace delos::controller
