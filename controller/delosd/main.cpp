// main.cpp: delosd, the Delos controller daemon: command line (or config file), the gRPC
// server with health checking and reflection, the metrics endpoint, signals.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "controller_connection.h"
#include "controller_core.h"
#include "daemon_log.h"
#include "dashboard_server.h"
#include "grpc_service.h"
#include "fleet_file.h"
#include "libvirt_discovery.h"
#include "rollout_coordinator.h"

using namespace delos::controller;
namespace dashboard = delos::dashboard;

namespace {

std::string program_dir()
{
    char path[PATH_MAX];
    ssize_t size = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (size <= 0)
        return ".";
    path[size] = '\0';
    return std::filesystem::path(path).parent_path().string();
}

std::string default_vmm()
{
    std::string beside = program_dir() + "/delos-vmm";
    return ::access(beside.c_str(), X_OK) == 0 ? beside : "delos-vmm";
}

// This machine's host name as a fleet host name: lower case, other bytes as '-'.
std::string default_host_name()
{
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
        return "local";
    std::string out;
    for (char* c = name; *c && out.size() < 63; ++c) {
        char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
        out += (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') ? lower : '-';
    }
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"delosd: runs and supervises Delos guests, pushes cells into them and keeps their fault reports"};
    std::string state_dir = "/var/lib/delosd";
    std::vector<std::string> listen;
    std::string tls_cert, tls_key, client_ca, metrics, trusted_keys, log_level = "info";
    std::string vmm = default_vmm(), qemu = "qemu-system-x86_64";
    bool allow_unsigned = false, allow_command_runner = false;
    unsigned reply_timeout_ms = 10000;
    std::string libvirt_uri = "qemu:///system";
    bool no_libvirt = false;
    unsigned libvirt_poll_ms = 2000;
    std::string libvirt_domains = "*";
    std::string fleet_file, fleet_name;
    std::string dashboard_address;
    app.set_version_flag("--version", "delosd " DELOS_VERSION);
    app.set_config("--config", "", "read options from this file (TOML: state-dir = \"...\")");
    app.add_option("--state-dir", state_dir, "where the SQLite store, VM sockets and logs live")->capture_default_str();
    app.add_option("--listen", listen, "unix:PATH (owner-only, the default) or tcp:HOST:PORT (mutual TLS); repeatable")
        ->type_name("ADDRESS");
    app.add_option("--tls-cert", tls_cert, "server certificate (PEM), for tcp:");
    app.add_option("--tls-key", tls_key, "server private key (PEM), for tcp:");
    app.add_option("--client-ca", client_ca, "CA that signs client certificates (PEM), for tcp:");
    app.add_option("--metrics", metrics, "serve Prometheus /metrics on HOST:PORT");
    auto* keys_option = app.add_option("--trusted-keys", trusted_keys, "directory of *.pub Ed25519 keys that may sign cells");
    app.add_flag("--allow-unsigned", allow_unsigned, "accept unsigned cells (signed ones are still verified)")
        ->excludes(keys_option);
    app.add_flag("--allow-command-runner", allow_command_runner, "allow VMs run by any command (for tests)");
    app.add_option("--vmm", vmm, "the delos-vmm program")->capture_default_str();
    app.add_option("--qemu", qemu, "the QEMU program")->capture_default_str();
    app.add_option("--reply-timeout-ms", reply_timeout_ms, "how long a guest may take to answer one request")
        ->capture_default_str()
        ->check(CLI::Range(100u, 600000u));
    auto* uri_option = app.add_option("--libvirt-uri", libvirt_uri, "find Delos domains through this libvirt connection "
                                                                    "(any URI, remote ones too)")
                           ->capture_default_str();
    app.add_flag("--no-libvirt", no_libvirt, "no libvirt discovery")->excludes(uri_option);
    app.add_option("--libvirt-poll-ms", libvirt_poll_ms, "how often discovery lists libvirt's domains besides on lifecycle events (the fallback poll)")
        ->capture_default_str()
        ->check(CLI::Range(100u, 3600000u));
    app.add_option("--libvirt-domains", libvirt_domains, "discover only domains whose name matches this glob")
        ->capture_default_str();
    app.add_option("--fleet", fleet_file, "this delosd's fleet file (docs/fleet.md): the dashboard shows its hosts and "
                                          "rollouts are coordinated over them");
    app.add_option("--fleet-name", fleet_name, "this delosd's host name in its fleet (default: the machine's host name, "
                                               "or the fleet file's coordinator when the file does not name this machine)");
    app.add_option("--dashboard", dashboard_address, "serve the fault dashboard (page and JSON API) on HOST:PORT");
    // The dashboard's own fleet options before it read --fleet: refused with what to use instead.
    std::string retired_dashboard_fleet, retired_host_name;
    app.add_option("--dashboard-fleet", retired_dashboard_fleet, "")->group("");
    app.add_option("--host-name", retired_host_name, "")->group("");
    app.add_option("--log-level", log_level, "debug, info, warn or error")
        ->capture_default_str()
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);
        return code == 0 ? 0 : 2;
    }
    if (!retired_dashboard_fleet.empty() || !retired_host_name.empty()) {
        std::fprintf(stderr, "delosd: %s\n",
                     !retired_dashboard_fleet.empty()
                         ? "--dashboard-fleet is gone: give the fleet file with --fleet FILE (the dashboard and the "
                           "rollout coordinator share it; docs/fleet.md)"
                         : "--host-name is gone: give this delosd's name in its fleet with --fleet-name NAME");
        return 2;
    }
    set_log_level(log_level);
    if (listen.empty()) {
        const char* runtime = std::getenv("XDG_RUNTIME_DIR");
        listen.push_back(::getuid() != 0 && runtime && *runtime ? std::string("unix:") + runtime + "/delosd.sock"
                                                                 : "unix:/run/delosd/delosd.sock");
    }

    // Signals are taken by one thread (sigwait); block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    try {
        DaemonMetrics daemon_metrics;
        if (!metrics.empty()) {
            daemon_metrics.listen(metrics);
            auto ports = daemon_metrics.listening_ports();
            log_line("info", "metrics listening", {{"address", metrics}, {"port", ports.empty() ? "?" : std::to_string(ports[0])}});
        }
        CoreSettings settings;
        settings.runner.state_dir = std::filesystem::absolute(state_dir).string();
        settings.runner.vmm_path = vmm;
        settings.runner.qemu_path = qemu;
        settings.runner.allow_command_runner = allow_command_runner;
        settings.runner.reply_timeout = std::chrono::milliseconds(reply_timeout_ms);
        settings.allow_unsigned = allow_unsigned;
        settings.trusted_keys_dir = trusted_keys;
        ControllerCore core(settings, daemon_metrics);
        CoordinatorSettings coordination;
        coordination.state_dir = settings.runner.state_dir;
        coordination.metrics = &daemon_metrics.registry();
        // One fleet for the rollout coordinator and the dashboard; this delosd is one of its hosts.
        std::string self_name = fleet_name.empty() ? default_host_name() : fleet_name;
        if (!fleet_file.empty()) {
            coordination.fleet = load_fleet_file(fleet_file);
            if (fleet_name.empty() && !find_fleet_host(coordination.fleet, self_name))
                self_name = fleet_coordinator(coordination.fleet).name();
            if (!find_fleet_host(coordination.fleet, self_name))
                throw std::runtime_error("--fleet-name " + self_name + " is not a host of " + fleet_file);
        }
        coordination.self_name = self_name;
        RolloutCoordinator rollouts(coordination);
        ControllerService service(core, rollouts);
        std::unique_ptr<LibvirtDiscovery> discovery;
        if (!no_libvirt && !libvirt_uri.empty())
            discovery = std::make_unique<LibvirtDiscovery>(core, DiscoverySettings{libvirt_uri, std::chrono::milliseconds(libvirt_poll_ms), libvirt_domains});

        grpc::EnableDefaultHealthCheckService(true);
        grpc::reflection::InitProtoReflectionServerBuilderPlugin();
        grpc::ServerBuilder builder;
        builder.SetMaxReceiveMessageSize(8 << 20);
        builder.AddChannelArgument("grpc.http2.lookahead_bytes", 8 << 20);  // pushes are not window-bound
        builder.RegisterService(&service);
        std::vector<std::string> unix_paths;
        std::vector<std::pair<std::string, std::unique_ptr<int>>> tcp_ports;
        for (const std::string& address : listen) {
            auto [target, tcp] = grpc_target(address);
            if (!tcp) {
                std::string path = target.substr(5);
                std::filesystem::create_directories(std::filesystem::path(path).parent_path());
                std::error_code ignored;
                if (std::filesystem::is_socket(path, ignored))
                    std::filesystem::remove(path);
                builder.AddListeningPort(target, grpc::InsecureServerCredentials());
                unix_paths.push_back(path);
                continue;
            }
            if (tls_cert.empty() || tls_key.empty() || client_ca.empty())
                throw std::runtime_error("--listen " + address + ": TCP needs mutual TLS: give --tls-cert, --tls-key and --client-ca");
            grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
            ssl.pem_root_certs = read_pem(client_ca);
            ssl.pem_key_cert_pairs.push_back({read_pem(tls_key), read_pem(tls_cert)});
            tcp_ports.emplace_back(address, std::make_unique<int>(0));
            builder.AddListeningPort(target, grpc::SslServerCredentials(ssl), tcp_ports.back().second.get());
        }
        mode_t old_mask = ::umask(0077);  // the unix socket is created owner-only
        std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
        ::umask(old_mask);
        if (!server)
            throw std::runtime_error("cannot listen on the given addresses (in use, or a bad path?)");
        for (const std::string& path : unix_paths) {
            ::chmod(path.c_str(), 0600);
            log_line("info", "listening", {{"address", "unix:" + path}});
        }
        for (auto& [address, port] : tcp_ports) {
            if (*port == 0)
                throw std::runtime_error("cannot listen on " + address);
            log_line("info", "listening", {{"address", address}, {"port", std::to_string(*port)}, {"tls", "mutual"}});
        }
        // The dashboard reads this delosd through its own gRPC service, in process.
        std::unique_ptr<dashboard::Fleet> fleet;
        std::unique_ptr<dashboard::DashboardServer> dashboard_server;
        if (!dashboard_address.empty()) {
            fleet = std::make_unique<dashboard::Fleet>(self_name, server->InProcessChannel(grpc::ChannelArguments()),
                                                       coordination.fleet);
            dashboard_server = std::make_unique<dashboard::DashboardServer>(dashboard_address, *fleet);
            auto ports = dashboard_server->listening_ports();
            log_line("info", "dashboard listening", {{"address", dashboard_address},
                                                     {"port", ports.empty() ? "?" : std::to_string(ports[0])},
                                                     {"fleet_name", self_name},
                                                     {"fleet_hosts", std::to_string(coordination.fleet.hosts_size())}});
        }
        server->GetHealthCheckService()->SetServingStatus(true);
        server->GetHealthCheckService()->SetServingStatus("delos.v1.Controller", true);
        rollouts.resume_unfinished();  // after the server is up: the coordinator may be its own peer
        log_line("info", "ready", {{"state_dir", settings.runner.state_dir},
                                   {"signed_cells", allow_unsigned ? "optional" : "required"}});

        int signal = 0;
        sigwait(&signals, &signal);
        log_line("info", "shutting down", {{"signal", strsignal(signal)}});
        server->GetHealthCheckService()->SetServingStatus(false);
        dashboard_server.reset();  // its streams first, then the feeds' watches on this server
        fleet.reset();
        discovery.reset();  // before the core it adds VMs to
        service.shut_down();
        server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
        server->Wait();
    } catch (const std::exception& error) {
        log_line("error", "delosd cannot run", {{"error", error.what()}});
        return 1;
    }
    return 0;
}
