// fleet_file.cpp: see fleet_file.h.
#include "fleet_file.h"

#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace delos::controller {

namespace {

bool valid_host_name(const std::string& name)
{
    if (name.empty() || name.size() > 63)
        return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_')))
            return false;
    }
    return true;
}

std::string resolve(const std::string& path, const std::string& base_dir)
{
    if (path.empty() || path[0] == '/' || base_dir.empty())
        return path;
    return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

} // namespace

v1::FleetFile parse_fleet_file(const std::string& text, const std::string& base_dir)
{
    if (text.size() > (1u << 20))
        throw FleetFileError("a fleet file is at most 1 MiB");
    v1::FleetFile fleet;
    google::protobuf::util::JsonParseOptions options;  // unknown fields are an error: a typo must not pass
    auto status = google::protobuf::util::JsonStringToMessage(text, &fleet, options);
    if (!status.ok())
        throw FleetFileError("not a fleet file (JSON with \"hosts\" and \"tls\"): " + std::string(status.message()));
    if (fleet.hosts().empty())
        throw FleetFileError("the fleet file names no hosts");
    if (fleet.hosts_size() > 1000)
        throw FleetFileError("a fleet file names at most 1000 hosts");
    std::set<std::string> names;
    bool any_tcp = false;
    for (const v1::FleetHost& host : fleet.hosts()) {
        if (!valid_host_name(host.name()))
            throw FleetFileError("host name '" + host.name().substr(0, 80) + "' is not [a-z0-9][a-z0-9_-]{0,62}");
        if (!names.insert(host.name()).second)
            throw FleetFileError("host '" + host.name() + "' is named twice");
        try {
            any_tcp |= grpc_target(host.address()).second;
        } catch (const ConnectError& error) {
            throw FleetFileError("host '" + host.name() + "': " + error.what());
        }
        if (host.tls_server_name().size() > 253)
            throw FleetFileError("host '" + host.name() + "': tls_server_name is too long");
    }
    if (!fleet.coordinator().empty() && !names.count(fleet.coordinator()))
        throw FleetFileError("coordinator '" + fleet.coordinator().substr(0, 80) + "' is not one of the hosts");
    v1::FleetTls* tls = fleet.mutable_tls();
    tls->set_ca(resolve(tls->ca(), base_dir));
    tls->set_cert(resolve(tls->cert(), base_dir));
    tls->set_key(resolve(tls->key(), base_dir));
    if (any_tcp && (tls->ca().empty() || tls->cert().empty() || tls->key().empty()))
        throw FleetFileError("tcp: hosts are reached with mutual TLS only: give tls.ca, tls.cert and tls.key");
    return fleet;
}

v1::FleetFile load_fleet_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FleetFileError("cannot read the fleet file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return parse_fleet_file(text.str(), std::filesystem::absolute(path).parent_path().string());
    } catch (const FleetFileError& error) {
        throw FleetFileError(path + ": " + error.what());
    }
}

ConnectOptions fleet_connect_options(const v1::FleetFile& fleet, const v1::FleetHost& host)
{
    ConnectOptions options;
    options.server = host.address();
    options.tls_ca = fleet.tls().ca();
    options.tls_cert = fleet.tls().cert();
    options.tls_key = fleet.tls().key();
    options.tls_server_name = host.tls_server_name();
    return options;
}

const v1::FleetHost* find_fleet_host(const v1::FleetFile& fleet, const std::string& name)
{
    for (const v1::FleetHost& host : fleet.hosts())
        if (host.name() == name)
            return &host;
    return nullptr;
}

const v1::FleetHost& fleet_coordinator(const v1::FleetFile& fleet)
{
    if (const v1::FleetHost* named = find_fleet_host(fleet, fleet.coordinator()))
        return *named;
    return fleet.hosts(0);
}

} // namespace delos::controller
