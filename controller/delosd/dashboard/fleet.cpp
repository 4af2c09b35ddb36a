// fleet.cpp: see fleet.h.
#include "fleet.h"

#include <algorithm>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "controller_connection.h"

namespace delos::dashboard {

namespace {

std::string field_text(const google::protobuf::Struct& object, const std::string& name, const std::string& where)
{
    auto found = object.fields().find(name);
    if (found == object.fields().end())
        return {};
    if (found->second.kind_case() != google::protobuf::Value::kStringValue)
        throw FleetFileError(where + "." + name + " must be a string");
    return found->second.string_value();
}

std::string resolve(const std::string& path, const std::string& base_dir)
{
    if (path.empty() || path[0] == '/' || base_dir.empty())
        return path;
    return (std::filesystem::path(base_dir) / path).string();
}

bool valid_host_name(const std::string& name)
{
    if (name.empty() || name.size() > 63)
        return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '-' || c == '_'));
        if (!ok)
            return false;
    }
    return true;
}

} // namespace

RolloutRow rollout_row(const std::string& host, const v1::Rollout& rollout)
{
    RolloutRow row;
    row.host = rollout.coordinator().empty() ? host : rollout.coordinator();
    row.id = std::to_string(rollout.id());
    row.cell = rollout.spec().cell();
    row.version = rollout.new_version().empty() ? "(new)" : rollout.new_version();
    row.state = v1::RolloutState_Name(rollout.state());
    std::uint32_t stages = rollout.stages();
    row.stage = rollout.stage() == 0 ? "canary" : "stage " + std::to_string(rollout.stage() + 1);
    if (stages > 0)
        row.stage += " of " + std::to_string(stages);
    row.targets = static_cast<std::uint32_t>(rollout.targets_size());
    for (const v1::RolloutTarget& target : rollout.targets()) {
        row.swapped += target.state() == v1::ROLLOUT_TARGET_STATE_SWAPPED ? 1 : 0;
        row.rolled_back += target.state() == v1::ROLLOUT_TARGET_STATE_ROLLED_BACK ? 1 : 0;
        row.failed += target.state() == v1::ROLLOUT_TARGET_STATE_FAILED ? 1 : 0;
    }
    row.started_unix_ms = rollout.created_unix_ms();
    row.updated_unix_ms = rollout.updated_unix_ms();
    row.message = rollout.outcome();
    row.faults = rollout.faults();
    switch (rollout.state()) {
    case v1::ROLLOUT_STATE_SUCCEEDED:
    case v1::ROLLOUT_STATE_ROLLED_BACK:
    case v1::ROLLOUT_STATE_ABORTED:
    case v1::ROLLOUT_STATE_FAILED: row.active = false; break;
    default: row.active = true;
    }
    return row;
}

std::vector<FleetPeer> parse_fleet_file(const std::string& json, const std::string& base_dir)
{
    google::protobuf::Struct root;
    auto status = google::protobuf::util::JsonStringToMessage(json, &root);
    if (!status.ok())
        throw FleetFileError("not a JSON object: " + std::string(status.message()));
    std::string ca, cert, key;
    auto tls = root.fields().find("tls");
    if (tls != root.fields().end()) {
        if (tls->second.kind_case() != google::protobuf::Value::kStructValue)
            throw FleetFileError("tls must be an object");
        ca = resolve(field_text(tls->second.struct_value(), "ca", "tls"), base_dir);
        cert = resolve(field_text(tls->second.struct_value(), "cert", "tls"), base_dir);
        key = resolve(field_text(tls->second.struct_value(), "key", "tls"), base_dir);
    }
    auto hosts = root.fields().find("hosts");
    if (hosts == root.fields().end() || hosts->second.kind_case() != google::protobuf::Value::kListValue)
        throw FleetFileError("hosts must be a list of {\"name\", \"address\"}");
    std::vector<FleetPeer> peers;
    std::set<std::string> names;
    for (int i = 0; i < hosts->second.list_value().values_size(); ++i) {
        const auto& value = hosts->second.list_value().values(i);
        std::string where = "hosts[" + std::to_string(i) + "]";
        if (value.kind_case() != google::protobuf::Value::kStructValue)
            throw FleetFileError(where + " must be an object");
        FleetPeer peer;
        peer.name = field_text(value.struct_value(), "name", where);
        peer.address = field_text(value.struct_value(), "address", where);
        peer.tls_server_name = field_text(value.struct_value(), "tls_server_name", where);
        if (!valid_host_name(peer.name))
            throw FleetFileError(where + ".name must match [a-z0-9][a-z0-9_-]{0,62}");
        if (!names.insert(peer.name).second)
            throw FleetFileError(where + ".name " + peer.name + " appears twice");
        if (peer.address.rfind("tcp:", 0) != 0 && peer.address.rfind("unix:", 0) != 0)
            throw FleetFileError(where + ".address must be tcp:HOST:PORT or unix:PATH");
        if (peer.address.rfind("tcp:", 0) == 0 && (ca.empty() || cert.empty() || key.empty()))
            throw FleetFileError(where + " is a TCP host: the file needs tls.ca, tls.cert and tls.key (mutual TLS)");
        peer.tls_ca = ca;
        peer.tls_cert = cert;
        peer.tls_key = key;
        peers.push_back(std::move(peer));
    }
    return peers;
}

std::vector<FleetPeer> read_fleet_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FleetFileError("cannot read the fleet file " + path);
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (text.size() > (1 << 20))
        throw FleetFileError("the fleet file " + path + " is larger than 1 MiB");
    try {
        return parse_fleet_file(text, std::filesystem::path(path).parent_path().string());
    } catch (const FleetFileError& error) {
        throw FleetFileError(path + ": " + error.what());
    }
}

Fleet::Fleet(std::string local_name, std::shared_ptr<grpc::Channel> local_channel, const std::vector<FleetPeer>& peers,
             FeedSettings settings)
    : m_local_name(std::move(local_name))
{
    auto notify = [this] { changed(); };
    m_feeds.push_back(std::make_unique<HostFeed>(m_local_name, "local", true, std::move(local_channel), "", m_index, notify,
                                                 settings));
    for (const FleetPeer& peer : peers) {
        if (peer.name == m_local_name)
            continue;
        std::shared_ptr<grpc::Channel> channel;
        std::string error;
        try {
            controller::ConnectOptions options{peer.address, peer.tls_ca, peer.tls_cert, peer.tls_key};
            if (!peer.tls_server_name.empty() && peer.address.rfind("tcp:", 0) == 0) {
                grpc::SslCredentialsOptions ssl;
                ssl.pem_root_certs = controller::read_pem(peer.tls_ca);
                ssl.pem_cert_chain = controller::read_pem(peer.tls_cert);
                ssl.pem_private_key = controller::read_pem(peer.tls_key);
                grpc::ChannelArguments arguments;
                arguments.SetSslTargetNameOverride(peer.tls_server_name);
                channel = grpc::CreateCustomChannel(controller::grpc_target(peer.address).first, grpc::SslCredentials(ssl),
                                                    arguments);
            } else {
                channel = controller::connect_controller(options);
            }
        } catch (const std::exception& failure) {
            error = failure.what();
        }
        m_feeds.push_back(std::make_unique<HostFeed>(peer.name, peer.address, false, std::move(channel), error, m_index,
                                                     notify, settings));
    }
}

Fleet::~Fleet()
{
    m_feeds.clear();  // joins their threads before the index and the signal go
}

void Fleet::changed()
{
    {
        std::lock_guard lock(m_change_mutex);
        ++m_changes;
    }
    m_change_signal.notify_all();
}

std::uint64_t Fleet::changes()
{
    std::lock_guard lock(m_change_mutex);
    return m_changes;
}

std::uint64_t Fleet::wait_for_change(std::uint64_t seen, std::chrono::milliseconds limit)
{
    std::unique_lock lock(m_change_mutex);
    m_change_signal.wait_for(lock, limit, [&] { return m_changes != seen; });
    return m_changes;
}

std::vector<HostSnapshot> Fleet::hosts()
{
    std::vector<HostSnapshot> snapshots;
    for (auto& feed : m_feeds)
        snapshots.push_back(feed->snapshot());
    return snapshots;
}

FaultLookup Fleet::fault(const std::string& host, std::uint64_t sequence)
{
    for (auto& feed : m_feeds)
        if (feed->name() == host)
            return feed->fault(sequence);
    return {std::nullopt, "no host named " + host + " in this fleet"};
}

RolloutsView Fleet::rollouts()
{
    RolloutsView view;
    std::string errors;
    for (const HostSnapshot& host : hosts()) {
        if (!host.serves_rollouts) {
            if (!host.rollouts_error.empty())
                errors += (errors.empty() ? "" : "; ") + host.name + ": " + host.rollouts_error;
            continue;
        }
        view.available = true;
        for (const v1::Rollout& rollout : host.rollouts)
            view.rollouts.push_back(rollout_row(host.name, rollout));
    }
    if (!view.available)
        view.note = errors.empty() ? "no host of the fleet answers ListRollouts" : errors;
    else if (!errors.empty())
        view.note = errors;
    // In progress first, then the newest.
    std::stable_sort(view.rollouts.begin(), view.rollouts.end(), [](const RolloutRow& a, const RolloutRow& b) {
        if (a.active != b.active)
            return a.active;
        return a.updated_unix_ms > b.updated_unix_ms;
    });
    return view;
}

} // namespace delos::dashboard
