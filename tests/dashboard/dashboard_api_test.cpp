// dashboard_api_test.cpp: the dashboard's JSON API over fixed data: each endpoint's answer,
// paging links, hosts shown unreachable, names that carry HTML coming out inert, and hostile
// query strings (unknown, repeated, over-long, badly encoded, non-UTF-8, control characters,
// out-of-range or non-decimal numbers) each refused with a 400 that says why.
#include <gtest/gtest.h>

#include <random>

#include "dashboard_api.h"
#include "json_writer.h"
#include "query_params.h"

namespace delos::dashboard {
namespace {

class FixedData : public DashboardData {
public:
    std::vector<HostSnapshot> snapshots;
    FaultBucketIndex index;
    std::map<std::pair<std::string, std::uint64_t>, v1::FaultRecord> stored;
    RolloutsView rollout_view;

    std::vector<HostSnapshot> hosts() override { return snapshots; }
    const FaultBucketIndex& faults() override { return index; }
    FaultLookup fault(const std::string& host, std::uint64_t sequence) override
    {
        if (host == "down")
            return {std::nullopt, "UNAVAILABLE: connection refused"};
        auto found = stored.find({host, sequence});
        return {found == stored.end() ? std::nullopt : std::optional(found->second), ""};
    }
    RolloutsView rollouts() override { return rollout_view; }
    std::uint64_t changes() override { return 42; }
    std::string local_name() override { return "h1"; }

    void add(const std::string& host, v1::FaultRecord record)
    {
        index.add(host, record);
        stored[{host, record.sequence()}] = record;
    }
};

v1::FaultRecord fault(std::uint64_t sequence, const std::string& vm, const std::string& cell, const std::string& symbol)
{
    v1::FaultRecord record;
    record.set_sequence(sequence);
    record.set_vm(vm);
    record.set_received_unix_ms(1'000'000 + static_cast<std::int64_t>(sequence));
    record.mutable_report()->set_cell_name(cell);
    record.mutable_report()->set_cell_version("1.0.0");
    record.mutable_report()->set_symbol(symbol);
    record.mutable_report()->set_symbol_offset(0x2a);
    record.mutable_report()->set_kind(v1::FAULT_KIND_PAGE_FAULT);
    auto* frame = record.mutable_report()->add_backtrace();
    frame->set_symbol(symbol);
    frame->set_offset(0x2a);
    frame->set_address(0xffff800000123456);
    return record;
}

class DashboardApiTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        HostSnapshot local;
        local.name = "h1";
        local.local = true;
        local.reachable = true;
        local.polled_unix_ms = 1'000'000;
        v1::Vm vm;
        vm.mutable_spec()->set_name("alpha");
        vm.mutable_spec()->set_runner(v1::RUNNER_QEMU);
        vm.set_state(v1::VM_STATE_RUNNING);
        vm.set_boot_id(3);
        local.vms.push_back(vm);
        v1::VmStats stats;
        stats.set_vm("alpha");
        stats.mutable_guest()->set_uptime_ns(5'000'000'000);
        local.stats["alpha"] = stats;
        local.boot_started_unix_ms["alpha"] = 995'000;
        v1::CellInfo cell;
        cell.set_name("kv");
        cell.set_version("1.0.0");
        cell.set_state(v1::CELL_STATE_LOADED);
        cell.set_generation(1);
        local.cells["alpha"].push_back(cell);
        HostSnapshot down;
        down.name = "down";
        down.address = "tcp:10.0.0.9:7443";
        down.error = "ListVms: UNAVAILABLE: connection refused";
        data.snapshots = {local, down};
        for (std::uint64_t sequence = 1; sequence <= 120; ++sequence)
            data.add("h1", fault(sequence, sequence % 2 ? "alpha" : "beta", "kv", "kv::put" + std::to_string(sequence % 30)));
    }

    HttpResponse get(const std::string& target)
    {
        auto question = target.find('?');
        return api.get(target.substr(0, question), question == std::string::npos ? "" : target.substr(question + 1));
    }

    FixedData data;
    DashboardApi api{data, [] { return std::int64_t{1'002'000}; }};
};

TEST_F(DashboardApiTest, BucketsArePagedServerSide)
{
    auto first = get("/api/buckets?sort=count&limit=10");
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_NE(first.body.find("\"total\":30"), std::string::npos) << first.body;
    EXPECT_NE(first.body.find("\"faults\":120"), std::string::npos) << first.body;
    EXPECT_NE(first.body.find("\"next_offset\":10"), std::string::npos) << first.body;
    EXPECT_NE(first.body.find("\"frame\":\"kv::put"), std::string::npos) << first.body;
    EXPECT_NE(first.body.find("+0x2a\""), std::string::npos) << first.body;
    auto last = get("/api/buckets?sort=count&limit=10&offset=20");
    EXPECT_NE(last.body.find("\"next_offset\":null"), std::string::npos) << last.body;
    auto beyond = get("/api/buckets?offset=4000");
    EXPECT_EQ(beyond.status, 200);
    EXPECT_NE(beyond.body.find("\"buckets\":[]"), std::string::npos) << beyond.body;
}

TEST_F(DashboardApiTest, FaultsOfABucketAndTheFullReport)
{
    auto page = get("/api/faults?bucket=0&limit=2");
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_NE(page.body.find("\"total\":4"), std::string::npos) << page.body;  // sequences 1, 31, 61, 91
    EXPECT_NE(page.body.find("\"sequence\":91"), std::string::npos) << page.body;
    EXPECT_NE(page.body.find("\"next_before\":"), std::string::npos) << page.body;
    EXPECT_EQ(page.body.find("\"next_before\":null"), std::string::npos) << page.body;

    auto report = get("/api/fault?host=h1&sequence=31");
    ASSERT_EQ(report.status, 200) << report.body;
    EXPECT_NE(report.body.find("\"bucket_frame\":\"kv::put1+0x2a\""), std::string::npos) << report.body;
    EXPECT_NE(report.body.find("\"backtrace\""), std::string::npos) << report.body;
    EXPECT_NE(report.body.find("\"cell_name\":\"kv\""), std::string::npos) << report.body;
    EXPECT_EQ(get("/api/fault?host=h1&sequence=999").status, 404);
    auto unreachable = get("/api/fault?host=down&sequence=1");
    EXPECT_EQ(unreachable.status, 502);
    EXPECT_NE(unreachable.body.find("connection refused"), std::string::npos) << unreachable.body;
    EXPECT_EQ(get("/api/bucket?id=0").status, 200);
    EXPECT_EQ(get("/api/bucket?id=30").status, 404);
}

TEST_F(DashboardApiTest, HostsShowGuestsAndUnreachableHosts)
{
    auto hosts = get("/api/hosts");
    ASSERT_EQ(hosts.status, 200) << hosts.body;
    EXPECT_NE(hosts.body.find("\"name\":\"alpha\",\"runner\":\"qemu\",\"state\":\"VM_STATE_RUNNING\""), std::string::npos)
        << hosts.body;
    EXPECT_NE(hosts.body.find("\"uptime_ms\":7000"), std::string::npos) << hosts.body;  // host clock: now - boot start
    EXPECT_NE(hosts.body.find("\"guest_uptime_ms\":5000"), std::string::npos) << hosts.body;  // as the guest said
    EXPECT_NE(hosts.body.find("\"cells\":[\"kv@1.0.0\"]"), std::string::npos) << hosts.body;
    EXPECT_NE(hosts.body.find("\"name\":\"down\""), std::string::npos) << hosts.body;
    EXPECT_NE(hosts.body.find("\"reachable\":false,\"error\":\"ListVms: UNAVAILABLE: connection refused\""), std::string::npos)
        << hosts.body;
    auto only = get("/api/hosts?host=down");
    EXPECT_EQ(only.body.find("alpha"), std::string::npos) << only.body;

    auto overview = get("/api/overview");
    EXPECT_NE(overview.body.find("\"hosts\":2,\"hosts_unreachable\":1,\"vms\":1,\"vms_running\":1,\"faults\":120,\"buckets\":30"),
              std::string::npos)
        << overview.body;

    auto cells = get("/api/cells");
    EXPECT_NE(cells.body.find("{\"name\":\"kv\",\"versions\":[{\"version\":\"1.0.0\",\"faults\":120,\"guests\":[{\"host\":\"h1\",\"vm\":\"alpha\""),
              std::string::npos)
        << cells.body;
}

TEST_F(DashboardApiTest, FramesAreShownDemangled)
{
    data.add("h1", fault(600, "alpha", "init_faults", "_ZN12_GLOBAL__N_118write_through_nullEi.constprop.0"));
    auto buckets = get("/api/buckets?cell=init_faults");
    EXPECT_NE(buckets.body.find("\"frame\":\"_ZN12_GLOBAL__N_118write_through_nullEi.constprop.0+0x2a\""), std::string::npos)
        << buckets.body;
    EXPECT_NE(buckets.body.find("\"frame_demangled\":\"(anonymous namespace)::write_through_null(int) [clone .constprop.0]+0x2a\""),
              std::string::npos)
        << buckets.body;
    auto report = get("/api/fault?sequence=600");
    EXPECT_NE(report.body.find("\"frames_demangled\":[\"(anonymous namespace)::write_through_null(int) [clone .constprop.0]\"]"),
              std::string::npos)
        << report.body;
}

TEST_F(DashboardApiTest, RolloutsSayNoneUntilAHostServesThem)
{
    data.rollout_view.note = "this delosd has no rollout service yet";
    auto none = get("/api/rollouts");
    EXPECT_EQ(none.body, "{\"available\":false,\"note\":\"this delosd has no rollout service yet\",\"rollouts\":[]}");
    data.rollout_view.available = true;
    data.rollout_view.rollouts.push_back({.host = "h1", .id = "r1", .cell = "kv", .version = "2.0.0",
                                          .state = "ROLLOUT_STATE_BAKING", .targets = 9, .swapped = 1, .active = true});
    auto one = get("/api/rollouts");
    EXPECT_NE(one.body.find("\"state\":\"ROLLOUT_STATE_BAKING\""), std::string::npos) << one.body;
    EXPECT_NE(get("/api/overview").body.find("\"rollouts_active\":1"), std::string::npos);
}

TEST_F(DashboardApiTest, HtmlInNamesComesOutInert)
{
    data.add("h1", fault(500, "alpha", "<script>alert(1)</script>", "f\"&<img src=x>"));
    for (const char* target : {"/api/buckets?limit=200", "/api/cells", "/api/fault?host=h1&sequence=500"}) {
        auto response = get(target);
        ASSERT_EQ(response.status, 200) << target;
        EXPECT_EQ(response.body.find('<'), std::string::npos) << target << ": " << response.body;
        EXPECT_EQ(response.body.find('>'), std::string::npos) << target << ": " << response.body;
    }
    EXPECT_NE(get("/api/buckets?limit=200").body.find("\\u003cscript\\u003e"), std::string::npos);
}

TEST_F(DashboardApiTest, HostileQueriesAreRefusedWithAReason)
{
    struct Case {
        std::string target, reason;
    };
    std::vector<Case> cases = {
        {"/api/buckets?nope=1", "unknown parameter 'nope'"},
        {"/api/buckets?limit=1&limit=2", "given twice"},
        {"/api/buckets?limit=0", "out of range"},
        {"/api/buckets?limit=201", "out of range"},
        {"/api/buckets?limit=-1", "decimal number"},
        {"/api/buckets?limit=%2B5", "decimal number"},
        {"/api/buckets?limit=1e3", "decimal number"},
        {"/api/buckets?limit=0x10", "decimal number"},
        {"/api/buckets?limit=%205", "decimal number"},
        {"/api/buckets?offset=99999999999999999999999", "decimal number"},
        {"/api/buckets?offset=18446744073709551616", "out of range"},
        {"/api/buckets?sort=evil", "must be one of"},
        {"/api/buckets?cell=%zz", "two hex digits"},
        {"/api/buckets?cell=abc%", "two hex digits"},
        {"/api/buckets?cell=abc%4", "two hex digits"},
        {"/api/buckets?cell=%00", "control characters"},
        {"/api/buckets?cell=a%0Ab", "control characters"},
        {"/api/buckets?cell=%ff%fe", "not UTF-8"},
        {"/api/buckets?cell=%c0%af", "not UTF-8"},       // overlong '/'
        {"/api/buckets?cell=%ed%a0%80", "not UTF-8"},    // a surrogate
        {"/api/buckets?cell=" + std::string(300, 'a'), "longer than 256"},
        {"/api/buckets?cell=" + std::string(3000, 'a'), "longer than 2048"},
        {"/api/buckets?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16&q=17", "more than 16"},
        {"/api/fault?host=h1", "sequence is required"},
        {"/api/fault?host=h1&sequence=0", "out of range"},
        {"/api/fault?host=h1&sequence=9223372036854775808", "out of range"},
        {"/api/bucket", "id is required"},
        {"/api/bucket?id=4294967296", "out of range"},
        {"/api/timeline?window_s=1", "out of range"},
        {"/api/timeline?slots=100000", "out of range"},
        {"/api/overview?x=1", "takes none"},
        {"/api/faults?%ff=1", "unknown parameter (unprintable)"},
    };
    for (const Case& each : cases) {
        auto response = get(each.target);
        EXPECT_EQ(response.status, 400) << each.target << ": " << response.body;
        EXPECT_NE(response.body.find(each.reason), std::string::npos) << each.target << ": " << response.body;
        EXPECT_EQ(response.body.rfind("{\"error\":\"query: ", 0), 0u) << response.body;
    }
    EXPECT_EQ(get("/api/nothing").status, 404);
    EXPECT_EQ(get("/api/buckets?cell=kv&sort=count&&").status, 200);  // empty parts are skipped
    EXPECT_EQ(get("/api/buckets?cell=k%76").status, 200);             // %76 = 'v'
}

TEST_F(DashboardApiTest, RandomQueriesGetAnAnswerNeverACrash)
{
    std::mt19937 random(1234);
    const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789=&%+-_.~ \x01\xff\xc3\xa9";
    const char* paths[] = {"/api/buckets", "/api/faults", "/api/fault", "/api/bucket", "/api/timeline", "/api/hosts",
                           "/api/cells", "/api/overview", "/api/rollouts"};
    for (int round = 0; round < 5000; ++round) {
        std::string query;
        std::size_t length = random() % 64;
        for (std::size_t i = 0; i < length; ++i)
            query += alphabet[random() % alphabet.size()];
        auto response = api.get(paths[random() % std::size(paths)], query);
        ASSERT_TRUE(response.status == 200 || response.status == 400 || response.status == 404) << response.status << " " << query;
        ASSERT_EQ(response.body.front(), '{') << query;
        ASSERT_EQ(response.body.back(), '}') << query;
    }
}

TEST(JsonWriter, EscapesForJsonAndHtml)
{
    EXPECT_EQ(json_string("a\"b\\c\n\t\x01<>&\x7f"), "\"a\\\"b\\\\c\\n\\t\\u0001\\u003c\\u003e\\u0026\\u007f\"");
    EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x80\xa8"), "\"caf\xc3\xa9 \\u2028\"");
    EXPECT_EQ(json_string("bad\xff\xc3"), "\"bad\\ufffd\\ufffd\"");
    EXPECT_EQ(json_string("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
    EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"");  // overlong
    JsonWriter json;
    json.begin_object().field("a", 1).key("b").begin_array().value("x").null().value(true).end_array().field("c", 2.5).end_object();
    EXPECT_EQ(json.text(), "{\"a\":1,\"b\":[\"x\",null,true],\"c\":2.5}");
}

} // namespace
} // namespace delos::dashboard
