// dashboard_api_fuzzer.cpp: the dashboard's JSON API over arbitrary query strings (and the JSON
// writer over arbitrary bytes). Every request gets 200, 400 or 404 with one JSON object as the
// body; no body carries a raw '<' or '>' (names are escaped for HTML too), and an escaped
// string never holds control bytes or invalid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dashboard_api.h"
#include "json_writer.h"

using namespace delos::dashboard;

namespace {

class Data : public DashboardData {
public:
    Data()
    {
        for (std::uint64_t sequence = 1; sequence <= 40; ++sequence) {
            delos::v1::FaultRecord record;
            record.set_sequence(sequence);
            record.set_vm(sequence % 2 ? "a" : "<b>");
            record.set_received_unix_ms(static_cast<std::int64_t>(sequence) * 1000);
            record.mutable_report()->set_cell_name(sequence % 3 ? "kv" : "c\"<x>");
            record.mutable_report()->set_symbol("f" + std::to_string(sequence % 7));
            index.add(sequence % 5 ? "h1" : "h2", record);
        }
        HostSnapshot host;
        host.name = "h1";
        host.reachable = true;
        snapshots.push_back(host);
    }
    std::vector<HostSnapshot> hosts() override { return snapshots; }
    const FaultBucketIndex& faults() override { return index; }
    FaultLookup fault(const std::string&, std::uint64_t sequence) override
    {
        if (sequence % 2)
            return {std::nullopt, "unreachable"};
        return {};
    }
    RolloutsView rollouts() override { return {}; }
    std::uint64_t changes() override { return 1; }
    std::string local_name() override { return "h1"; }

    std::vector<HostSnapshot> snapshots;
    FaultBucketIndex index;
};

bool clean_utf8_without_controls(const std::string& text)
{
    for (std::size_t i = 0; i < text.size();) {
        auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x20 || lead == 0x7f)
            return false;
        std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
        if (length == 0 || i + length > text.size())
            return false;
        for (std::size_t k = 1; k < length; ++k)
            if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80)
                return false;
        i += length;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size)
{
    static Data data;
    static DashboardApi api(data, [] { return std::int64_t{50'000}; });
    static const char* paths[] = {"/api/overview", "/api/hosts", "/api/cells", "/api/buckets", "/api/bucket",
                                  "/api/faults",   "/api/fault", "/api/timeline", "/api/rollouts", "/api/x"};
    if (size == 0)
        return 0;
    std::string input(reinterpret_cast<const char*>(bytes + 1), size - 1);
    HttpResponse response = api.get(paths[bytes[0] % 10], input);
    if (response.status != 200 && response.status != 400 && response.status != 404 && response.status != 502)
        std::abort();
    if (response.body.empty() || response.body.front() != '{' || response.body.back() != '}')
        std::abort();
    if (response.body.find('<') != std::string::npos || response.body.find('>') != std::string::npos)
        std::abort();
    std::string escaped = json_string(input);
    if (!clean_utf8_without_controls(escaped) || escaped.find('<') != std::string::npos)
        std::abort();
    return 0;
}
