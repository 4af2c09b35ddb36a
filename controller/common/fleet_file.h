// fleet_file.h: the fleet file (docs/fleet.md): JSON in protobuf's mapping of v1::FleetFile,
// a set of delosd endpoints and the mutual-TLS material to reach them. delosctl --fleet, the
// rollout coordinator in delosd and the dashboard read it through here; everything in it is
// checked (names, addresses, duplicates, TLS files) before anyone connects.
#pragma once

#include <stdexcept>
#include <string>

#include "controller_connection.h"
#include "delos/v1/controller.pb.h"

namespace delos::controller {

class FleetFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses and checks fleet-file text; relative TLS paths are resolved against `base_dir`.
// Throws FleetFileError naming what is wrong.
v1::FleetFile parse_fleet_file(const std::string& text, const std::string& base_dir);
// Reads and parses the file at `path` (at most 1 MiB).
v1::FleetFile load_fleet_file(const std::string& path);
// How to reach one host of the fleet.
ConnectOptions fleet_connect_options(const v1::FleetFile& fleet, const v1::FleetHost& host);
// The host named `name`, or nullptr.
const v1::FleetHost* find_fleet_host(const v1::FleetFile& fleet, const std::string& name);
// The coordinator: the named one, else the first host.
const v1::FleetHost& fleet_coordinator(const v1::FleetFile& fleet);

} // namespace delos::controller
