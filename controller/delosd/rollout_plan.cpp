// rollout_plan.cpp: see rollout_plan.h.
#include "rollout_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "cell_signature.h"
#include "request_checks.h"

namespace delos::controller {

namespace {

using grpc::StatusCode;

bool valid_fleet_name(const std::string& name) { return valid_vm_name(name); }

std::string lower_word(std::string name, const char* prefix)
{
    if (name.rfind(prefix, 0) == 0)
        name = name.substr(std::strlen(prefix));
    for (char& c : name)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name.empty() ? "unknown" : name;
}

} // namespace

void check_rollout_spec(const v1::RolloutSpec& spec)
{
    auto refuse = [](const std::string& why) { throw RpcError(StatusCode::INVALID_ARGUMENT, why); };
    if (!valid_cell_name(spec.cell()))
        refuse("rollout: cell name '" + spec.cell().substr(0, 80) + "' is not a valid cell name");
    if (spec.object().empty())
        refuse("rollout: no object: StartRollout carries the new version's object");
    if (spec.object().size() > kMaxRolloutObjectBytes)
        refuse("rollout: the object is " + std::to_string(spec.object().size()) + " bytes; a rollout carries at most "
               + std::to_string(kMaxRolloutObjectBytes) + " (push bigger cells to each VM with delosctl push)");
    if (spec.sha256().size() != 32)
        refuse("rollout: sha256 must be 32 bytes");
    if (sha256_of(spec.object()) != spec.sha256())
        refuse("rollout: the object does not match its sha256");
    if (!spec.signature().empty() && spec.signature().size() != 64)
        refuse("rollout: an Ed25519 signature is 64 bytes");
    if (!spec.public_key().empty() && spec.public_key().size() != 32)
        refuse("rollout: an Ed25519 public key is 32 bytes");
    if (spec.canary() > 10000 || spec.batch_size() > 10000)
        refuse("rollout: canary and batch size are at most 10000");
    if (spec.batch_percent() > 100)
        refuse("rollout: batch_percent is 1..100 (0: not used)");
    if (spec.batch_percent() && spec.batch_size())
        refuse("rollout: give batch_size or batch_percent, not both");
    if (spec.bake_ms() > kMaxRolloutBakeMs)
        refuse("rollout: bake time is at most 24 h");
    if (!std::isfinite(spec.max_fault_rate()) || spec.max_fault_rate() < 0 || spec.max_fault_rate() > 1e6)
        refuse("rollout: max_fault_rate is a number of faults per guest, 0 or more");
    if (spec.hosts_size() > 1000 || spec.vms_size() > 100000)
        refuse("rollout: too many hosts or VMs named");
    for (const std::string& host : spec.hosts())
        if (!valid_fleet_name(host))
            refuse("rollout: host name '" + host.substr(0, 80) + "' is not a fleet host name");
    for (const std::string& vm : spec.vms()) {
        auto slash = vm.find('/');
        bool ok = slash == std::string::npos ? valid_vm_name(vm)
                                             : valid_fleet_name(vm.substr(0, slash)) && valid_vm_name(vm.substr(slash + 1));
        if (!ok)
            refuse("rollout: '" + vm.substr(0, 80) + "' is not a VM name or host/vm");
    }
    if (spec.requested_by().size() > 256)
        refuse("rollout: requested_by is at most 256 bytes");
}

std::uint32_t plan_stages(std::vector<v1::RolloutTarget>& targets, const v1::RolloutSpec& spec)
{
    std::map<std::string, std::vector<v1::RolloutTarget>> by_host;
    for (v1::RolloutTarget& target : targets)
        by_host[target.host()].push_back(std::move(target));
    for (auto& [host, list] : by_host)
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.vm() < b.vm(); });
    std::vector<v1::RolloutTarget> ordered;
    for (std::size_t round = 0; ordered.size() < targets.size(); ++round)
        for (auto& [host, list] : by_host)
            if (round < list.size())
                ordered.push_back(std::move(list[round]));
    targets = std::move(ordered);
    if (targets.empty())
        return 0;
    std::size_t canary = std::min<std::size_t>(spec.canary() ? spec.canary() : 1, targets.size());
    std::size_t batch = targets.size();
    if (spec.batch_size())
        batch = spec.batch_size();
    else if (spec.batch_percent())
        batch = std::max<std::size_t>(1, (targets.size() * spec.batch_percent() + 99) / 100);
    std::uint32_t stage = 0;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        if (i < canary)
            stage = 0;
        else
            stage = 1 + static_cast<std::uint32_t>((i - canary) / batch);
        targets[i].set_stage(stage);
    }
    return stage + 1;
}

bool fault_rate_exceeded(std::uint64_t faults, std::uint64_t guests, double max_fault_rate)
{
    if (faults == 0)
        return false;
    if (guests == 0)
        return true;
    return static_cast<double>(faults) > max_fault_rate * static_cast<double>(guests);
}

bool rollout_final(v1::RolloutState state)
{
    return state == v1::ROLLOUT_STATE_SUCCEEDED || state == v1::ROLLOUT_STATE_ROLLED_BACK
        || state == v1::ROLLOUT_STATE_ABORTED || state == v1::ROLLOUT_STATE_FAILED;
}

std::string rollout_state_word(v1::RolloutState state)
{
    return lower_word(v1::RolloutState_Name(state), "ROLLOUT_STATE_");
}

std::string target_state_word(v1::RolloutTargetState state)
{
    return lower_word(v1::RolloutTargetState_Name(state), "ROLLOUT_TARGET_STATE_");
}

bool target_selected(const v1::RolloutSpec& spec, const std::string& host, const std::string& vm)
{
    if (spec.vms().empty())
        return true;
    for (const std::string& wanted : spec.vms())
        if (wanted == vm || wanted == host + "/" + vm)
            return true;
    return false;
}

} // namespace delos::controller
