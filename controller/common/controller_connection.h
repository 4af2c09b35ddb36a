// controller_connection.h: how clients (delosctl, the tests, the benchmark) reach delosd:
// "unix:PATH" (the default, owner-only socket) or "tcp:HOST:PORT" with mutual TLS.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace delos::controller {

struct ConnectOptions {
    std::string server;   // unix:PATH or tcp:HOST:PORT
    std::string tls_ca;   // PEM files; all three are needed for tcp
    std::string tls_cert;
    std::string tls_key;
    std::string tls_server_name;  // the name the server's certificate must carry, if not HOST
};

class ConnectError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The default server address: $DELOS_SERVER, else unix:$XDG_RUNTIME_DIR/delosd.sock, else
// unix:/run/delosd/delosd.sock.
std::string default_server();
// The grpc target for `server` ("unix:/p" or "host:port") and whether it is TCP. Throws ConnectError.
std::pair<std::string, bool> grpc_target(const std::string& server);
std::shared_ptr<grpc::Channel> connect_controller(const ConnectOptions& options);
std::string read_pem(const std::string& path);

} // namespace delos::controller
