// fleet_requests_fuzzer.cpp: the fleet's parsers and checks over arbitrary bytes. The first byte
// picks: a fleet file (text, as delosctl --fleet and delosd --fleet read it), or a rollout spec
// (protobuf bytes, as StartRollout hands it to the coordinator) with a target list to plan.
// Every input is accepted or refused with its own error type and a message — nothing else — and
// what is accepted keeps the rules: fleet host names valid and unique, the coordinator one of
// them, TCP only with TLS files; a rollout's object matches its SHA-256 and its size limit, and
// its stages cover every target once, the canary first, in order.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "cell_signature.h"
#include "fleet_file.h"
#include "request_checks.h"
#include "rollout_plan.h"

using namespace delos;
using namespace delos::controller;

namespace {

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "fuzz-fleet-requests: %s\n", what.c_str());
    std::abort();
}

void fleet_file(const std::string& text)
{
    v1::FleetFile fleet;
    try {
        fleet = parse_fleet_file(text, "/etc/delos");
    } catch (const FleetFileError& error) {
        if (std::string(error.what()).empty())
            fail("a refusal without a message");
        return;
    }
    std::set<std::string> names;
    bool tcp = false;
    for (const v1::FleetHost& host : fleet.hosts()) {
        if (!valid_vm_name(host.name()) || !names.insert(host.name()).second)
            fail("accepted a bad or repeated host name");
        tcp |= grpc_target(host.address()).second;  // must not throw for an accepted address
    }
    if (names.empty())
        fail("accepted a fleet without hosts");
    if (tcp && (fleet.tls().ca().empty() || fleet.tls().cert().empty() || fleet.tls().key().empty()))
        fail("accepted TCP hosts without TLS files");
    if (!names.count(fleet_coordinator(fleet).name()))
        fail("the coordinator is not a host");
}

void rollout(const std::string& bytes)
{
    if (bytes.empty())
        return;
    std::size_t targets = static_cast<unsigned char>(bytes[0]);
    v1::RolloutSpec spec;
    if (!spec.ParseFromString(bytes.substr(1)))
        return;
    if (spec.object().size() > 0 && spec.sha256().empty() && (targets & 1))
        spec.set_sha256(sha256_of(spec.object()));  // reach the later checks too
    try {
        check_rollout_spec(spec);
    } catch (const RpcError& error) {
        if (std::string(error.what()).empty() || error.code() != grpc::StatusCode::INVALID_ARGUMENT)
            fail("a refusal without a message or with another code");
        return;
    }
    if (spec.object().empty() || spec.object().size() > kMaxRolloutObjectBytes || sha256_of(spec.object()) != spec.sha256())
        fail("accepted an object that breaks the rules");
    std::vector<v1::RolloutTarget> list;
    for (std::size_t i = 0; i < targets; ++i) {
        v1::RolloutTarget target;
        target.set_host("h" + std::to_string(i % 7));
        target.set_vm("g" + std::to_string(i));
        list.push_back(target);
    }
    std::uint32_t stages = plan_stages(list, spec);
    if (list.size() != targets)
        fail("planning lost or added targets");
    if (targets == 0) {
        if (stages != 0)
            fail("stages without targets");
        return;
    }
    std::size_t canary = std::min<std::size_t>(spec.canary() ? spec.canary() : 1, targets);
    std::uint32_t previous = 0;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
        if ((i < canary) != (list[i].stage() == 0) || list[i].stage() < previous || list[i].stage() >= stages)
            fail("stages out of order");
        previous = list[i].stage();
        if (!seen.insert(list[i].vm()).second)
            fail("a target planned twice");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] & 1)
        rollout(rest);
    else
        fleet_file(rest);
    return 0;
}
