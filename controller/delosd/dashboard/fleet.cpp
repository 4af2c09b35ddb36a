// fleet.cpp: see fleet.h.
#include "fleet.h"

#include <algorithm>

#include "controller_connection.h"

namespace delos::dashboard {

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

Fleet::Fleet(std::string local_name, std::shared_ptr<grpc::Channel> local_channel, const v1::FleetFile& fleet,
             FeedSettings settings)
    : m_local_name(std::move(local_name))
{
    auto notify = [this] { changed(); };
    m_feeds.push_back(std::make_unique<HostFeed>(m_local_name, "local", true, std::move(local_channel), "", m_index, notify,
                                                 settings));
    for (const v1::FleetHost& peer : fleet.hosts()) {
        if (peer.name() == m_local_name)
            continue;
        std::shared_ptr<grpc::Channel> channel;
        std::string error;
        try {
            channel = controller::connect_controller(controller::fleet_connect_options(fleet, peer));
        } catch (const std::exception& failure) {
            error = failure.what();  // shown as this host's error; the others still come up
        }
        m_feeds.push_back(std::make_unique<HostFeed>(peer.name(), peer.address(), false, std::move(channel), error,
                                                     m_index, notify, settings));
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
