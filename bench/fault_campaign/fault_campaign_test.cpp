// fault_campaign_test.cpp: host tests of the campaign's parts that need no VM: the GDB remote
// protocol codec, the client against a scripted stub on a socket, the console and objdump
// parsers, injection points (choice is a function of the seed; print/parse round trip; hostile
// text refused) and the classification of runs.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "campaign_run.h"
#include "gdb_remote_client.h"
#include "gdb_remote_protocol.h"
#include "guest_report.h"
#include "injection_point.h"

namespace {

using namespace delos::fault_campaign;
using namespace std::chrono_literals;

TEST(GdbRemoteProtocol, FramesWithChecksumAndEscapes)
{
    EXPECT_EQ(gdb::frame_packet("g"), "$g#67");
    EXPECT_EQ(gdb::frame_packet("OK"), "$OK#9a");
    // '#', '$', '}' and '*' are escaped as '}' and the byte xor 0x20.
    EXPECT_EQ(gdb::frame_packet("a#b"), "$a}\x03" "b#" + std::string("") + [] {
        char text[3];
        std::snprintf(text, sizeof text, "%02x", gdb::checksum("a}\x03" "b"));
        return std::string(text);
    }());
}

TEST(GdbRemoteProtocol, ReaderSkipsAcksAndChecksChecksums)
{
    gdb::PacketReader reader;
    reader.feed("++$OK#9a$T05thread:01;#");
    auto first = reader.next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->payload, "OK");
    EXPECT_TRUE(first->checksum_ok);
    EXPECT_FALSE(reader.next());  // the second packet is incomplete
    reader.feed("07");
    auto second = reader.next();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->payload, "T05thread:01;");
    EXPECT_TRUE(second->checksum_ok);

    reader.feed("$OK#00");
    auto bad = reader.next();
    ASSERT_TRUE(bad);
    EXPECT_FALSE(bad->checksum_ok);
}

TEST(GdbRemoteProtocol, ReaderExpandsRunLengthAndUnescapes)
{
    gdb::PacketReader reader;
    std::string payload = "0* }\x03";  // '0' then 3 more (' ' is 32: 32 - 29), then an escaped '#'
    char sum[3];
    std::snprintf(sum, sizeof sum, "%02x", gdb::checksum(payload));
    reader.feed("$" + payload + "#" + sum);
    auto packet = reader.next();
    ASSERT_TRUE(packet);
    EXPECT_TRUE(packet->checksum_ok);
    EXPECT_EQ(packet->payload, "0000#");
}

TEST(GdbRemoteProtocol, ReaderBoundsAPacketThatNeverEnds)
{
    gdb::PacketReader reader;
    reader.feed("$");
    std::string chunk(64 * 1024, 'a');
    for (int i = 0; i < 40; ++i)
        reader.feed(chunk);
    EXPECT_LE(reader.buffered(), gdb::PacketReader::kMaxPacketBytes);
    auto packet = reader.next();
    ASSERT_TRUE(packet);
    EXPECT_FALSE(packet->checksum_ok);
}

TEST(GdbRemoteProtocol, HexAndRegisters)
{
    EXPECT_EQ(gdb::to_hex({0x00, 0xab, 0x10}), "00ab10");
    EXPECT_EQ(gdb::from_hex("00AB10"), (std::vector<std::uint8_t>{0x00, 0xab, 0x10}));
    EXPECT_FALSE(gdb::from_hex("abc"));
    EXPECT_FALSE(gdb::from_hex("zz"));
    EXPECT_EQ(gdb::register_from_hex("efbeadde00000000"), 0xdeadbeefull);
    EXPECT_EQ(gdb::register_to_hex(0x1122334455667788ull), "8877665544332211");
    EXPECT_FALSE(gdb::register_from_hex("efbeadde"));

    std::string block;
    for (int r = 0; r < 17; ++r)
        block += gdb::register_to_hex(0x1000 + r);
    block += "46020000";  // eflags
    EXPECT_EQ(gdb::register_in_block(block, gdb::kRegisterRip), 0x1010u);
    EXPECT_EQ(gdb::register_in_block(block, gdb::kRegisterRsp), 0x1007u);
    auto updated = gdb::block_with_register(block, gdb::kRegisterRip, 0xabcdef);
    ASSERT_TRUE(updated);
    EXPECT_EQ(gdb::register_in_block(*updated, gdb::kRegisterRip), 0xabcdefu);
    EXPECT_EQ(gdb::register_in_block(*updated, gdb::kRegisterRsp), 0x1007u);
    EXPECT_EQ(updated->size(), block.size());
    EXPECT_FALSE(gdb::register_in_block(block.substr(0, 100), gdb::kRegisterRip));
    EXPECT_FALSE(gdb::register_in_block(block, 17));
}

TEST(GdbRemoteProtocol, StopReplies)
{
    auto stopped = gdb::parse_stop_reply("T05thread:01;");
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->kind, gdb::StopReply::Kind::Stopped);
    EXPECT_EQ(stopped->code, 5);
    auto exited = gdb::parse_stop_reply("W17");
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->kind, gdb::StopReply::Kind::Exited);
    EXPECT_EQ(exited->code, 0x17);
    EXPECT_FALSE(gdb::parse_stop_reply("OK"));
    EXPECT_FALSE(gdb::parse_stop_reply("Tzz"));
    EXPECT_FALSE(gdb::parse_stop_reply(""));
    EXPECT_TRUE(gdb::is_error_reply("E14"));
    EXPECT_FALSE(gdb::is_error_reply("E1"));
}

// A scripted stub: answers each request the client is expected to send, checks what it got.
class ScriptedStub {
public:
    explicit ScriptedStub(std::string path) : m_path(std::move(path))
    {
        ::unlink(m_path.c_str());
        m_listen = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", m_path.c_str());
        EXPECT_EQ(::bind(m_listen, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        EXPECT_EQ(::listen(m_listen, 1), 0);
    }
    ~ScriptedStub()
    {
        if (m_thread.joinable())
            m_thread.join();
        ::close(m_listen);
        ::unlink(m_path.c_str());
    }
    // Pairs of (expected request payload, reply payload); "" as reply sends nothing.
    void serve(std::vector<std::pair<std::string, std::string>> script)
    {
        m_thread = std::thread([this, script = std::move(script)] {
            int fd = ::accept(m_listen, nullptr, nullptr);
            gdb::PacketReader reader;
            std::size_t step = 0;
            char buffer[4096];
            while (step < script.size()) {
                ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n <= 0)
                    break;
                std::string bytes(buffer, static_cast<std::size_t>(n));
                if (bytes.find('\x03') != std::string::npos)
                    m_received.push_back("^C");
                reader.feed(bytes);
                while (auto packet = reader.next()) {
                    m_received.push_back(packet->payload);
                    (void)::send(fd, "+", 1, MSG_NOSIGNAL);
                    if (step < script.size() && !script[step].second.empty()) {
                        std::string reply = gdb::frame_packet(script[step].second);
                        (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
                    }
                    ++step;
                }
            }
            while (::recv(fd, buffer, sizeof buffer, 0) > 0) {
            }  // keep the connection until the client goes
            ::close(fd);
        });
    }
    const std::vector<std::string>& received() const { return m_received; }

private:
    std::string m_path;
    int m_listen = -1;
    std::thread m_thread;
    std::vector<std::string> m_received;
};

TEST(GdbRemoteClient, SpeaksTheSubsetTheInjectorUses)
{
    std::string path = "/tmp/delos-fc-test-" + std::to_string(::getpid()) + ".sock";
    std::string registers;
    for (int r = 0; r < 17; ++r)
        registers += gdb::register_to_hex(r == 16 ? 0x401000 : (r == 7 ? 0x8000 : 0));
    {
        ScriptedStub stub(path);
        stub.serve({
            {"?", "T02thread:01;"},
            {"Z0,401000,1", "OK"},
            {"m8008,8", "1122334455667788"},
            {"M8008,8:8877665544332211", "OK"},
            {"g", registers},
            {"g", registers},
            {"G" + registers.substr(0, 256) + gdb::register_to_hex(0x401004), "OK"},
            {"c", "T05thread:01;"},
            {"z0,401000,1", "OK"},
            {"c", "W00"},
        });
        gdb::RemoteClient client;
        ASSERT_TRUE(client.connect(path, 2s)) << client.error();
        EXPECT_TRUE(client.insert_breakpoint(0x401000)) << client.error();
        auto bytes = client.read_memory(0x8008, 8);
        ASSERT_TRUE(bytes) << client.error();
        EXPECT_EQ((*bytes)[0], 0x11);
        EXPECT_TRUE(client.write_memory(0x8008, {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}));
        EXPECT_EQ(client.read_register(gdb::kRegisterRip), 0x401000u);
        EXPECT_TRUE(client.write_register(gdb::kRegisterRip, 0x401004)) << client.error();
        ASSERT_TRUE(client.resume());
        auto stop = client.wait_stop(2s);
        ASSERT_TRUE(stop);
        EXPECT_EQ(stop->kind, gdb::StopReply::Kind::Stopped);
        EXPECT_TRUE(client.remove_breakpoint(0x401000));
        ASSERT_TRUE(client.resume());
        auto exited = client.wait_stop(2s);
        ASSERT_TRUE(exited);
        EXPECT_EQ(exited->kind, gdb::StopReply::Kind::Exited);
    }
}

TEST(GdbRemoteClient, ATimeoutIsNotAClosedConnection)
{
    std::string path = "/tmp/delos-fc-test-timeout-" + std::to_string(::getpid()) + ".sock";
    ScriptedStub stub(path);
    stub.serve({{"?", "S05"}, {"c", ""}});
    gdb::RemoteClient client;
    ASSERT_TRUE(client.connect(path, 2s));
    ASSERT_TRUE(client.resume());
    EXPECT_FALSE(client.wait_stop(100ms));
    EXPECT_FALSE(client.closed());
}

TEST(GuestReport, ParsesSectionsReadyVerdictAndFaults)
{
    std::string console =
        "delos: ready: 7 cells loaded\n"
        "fc: section text 0x43a250 1097 .text.fc_kvserver_serve\n"
        "fc: section rodata 0x43b0e8 284 .eh_frame\n"
        "fc: section bogus line\n"
        "fc: ready workload=kv target=fc_kvserver go=0x3dc000\n"
        "delos: FAULT #1 in task 5 (fc.kv.worker, cell 9): #PF page fault\n"
        "fc: verdict=correct workload=kv requests=408 retries=2 faults=1 contained=1 restarts=1 reloads=0 "
        "reload_failures=0 wrong_answers=0 hung=0 frames_delta=0 heap_delta=-8 allocations_delta=0 problem=\"\"\n";
    GuestReport report = parse_guest_console(console);
    ASSERT_EQ(report.sections.size(), 2u);
    EXPECT_EQ(report.sections[0].name, ".text.fc_kvserver_serve");
    EXPECT_EQ(report.sections[0].address, 0x43a250u);
    EXPECT_EQ(report.sections[0].size, 1097u);
    EXPECT_TRUE(report.ready);
    EXPECT_EQ(report.go_address, 0x3dc000u);
    EXPECT_EQ(report.contained_faults, 1);
    ASSERT_TRUE(report.verdict);
    EXPECT_EQ(report.verdict->verdict, "correct");
    EXPECT_EQ(report.verdict->counter("retries"), 2);
    EXPECT_EQ(report.verdict->counter("heap_delta"), -8);
    EXPECT_FALSE(report.uncontained);
}

TEST(GuestReport, RefusesMalformedVerdicts)
{
    EXPECT_FALSE(parse_verdict_line("fc: verdict=maybe workload=kv"));
    auto verdict = parse_verdict_line("fc: verdict=wrong workload=kv faults=99999999999999999999999 problem=\"lost \"a\" key\"");
    ASSERT_TRUE(verdict);
    EXPECT_EQ(verdict->counter("faults"), 0);  // out of range: not a number
    EXPECT_EQ(verdict->problem, "lost \"a\" key");
}

TEST(GuestReport, ParsesObjdumpListings)
{
    std::string listing =
        "Disassembly of section .text.fc_session_serve_stateless:\n\n"
        "0000000000000000 <fc_session_serve_stateless>:\n"
        "   0:\t48 8b 57 08          \tmov    0x8(%rdi),%rdx\n"
        "  1c:\t48 bf cd 8c 55 ed d7 af 51 ff \tmovabs $0xff51afd7ed558ccd,%rdi\n"
        "  58:\tc3                   \tret\n"
        "Disassembly of section .text.other:\n"
        "   0:\t90                   \tnop\n";
    auto instructions = parse_objdump(listing);
    ASSERT_EQ(instructions.size(), 4u);
    EXPECT_EQ(instructions[1].section, ".text.fc_session_serve_stateless");
    EXPECT_EQ(instructions[1].offset, 0x1cu);
    EXPECT_EQ(instructions[1].length, 10u);
    EXPECT_EQ(instructions[2].length, 1u);
    EXPECT_EQ(instructions[3].section, ".text.other");
}

std::vector<GuestSection> sample_sections()
{
    return {{"text", 0x1000, 0x400, ".text.serve"},
            {"rodata", 0x2000, 0x40, ".rodata.strings"},
            {"rodata", 0x2040, 0x100, ".eh_frame"},
            {"data", 0x3000, 0xc0, ".bss.table"}};
}

std::vector<CoveredInstruction> sample_coverage()
{
    return {{{".text.serve", 0x0, 4}, 8}, {{".text.serve", 0x4, 3}, 2}, {{".text.serve", 0x10, 1}, 1}};
}

TEST(InjectionPoint, ChoiceIsAFunctionOfTheSeed)
{
    for (FaultType type : {FaultType::Word, FaultType::Bit, FaultType::Skip}) {
        for (std::uint64_t seed = 0; seed < 200; ++seed) {
            auto first = choose_point(seed, "kv", type, sample_coverage(), sample_sections());
            auto second = choose_point(seed, "kv", type, sample_coverage(), sample_sections());
            ASSERT_TRUE(first && second);
            EXPECT_EQ(format_point(*first), format_point(*second));
            EXPECT_GE(first->trigger_hit, 1u);
            if (type == FaultType::Skip) {
                EXPECT_EQ(first->region, Region::None);
                continue;
            }
            EXPECT_NE(first->section, ".eh_frame");  // the kernel's unwind metadata is not a target
            if (first->region == Region::Stack)
                EXPECT_LT(first->offset + 8, kStackWindowBytes + 1);
            if (type == FaultType::Bit)
                EXPECT_LT(first->value, 64u);
        }
    }
    EXPECT_NE(format_point(*choose_point(1, "kv", FaultType::Word, sample_coverage(), sample_sections())),
              format_point(*choose_point(2, "kv", FaultType::Word, sample_coverage(), sample_sections())));
    EXPECT_FALSE(choose_point(1, "kv", FaultType::Skip, {}, sample_sections()));
}

TEST(InjectionPoint, PrintsAndParsesBack)
{
    for (FaultType type : {FaultType::Word, FaultType::Bit, FaultType::Skip}) {
        for (std::uint64_t seed = 0; seed < 100; ++seed) {
            auto point = choose_point(seed, "pipeline", type, sample_coverage(), sample_sections());
            ASSERT_TRUE(point);
            std::string text = format_point(*point), error;
            auto parsed = parse_point(text, error);
            ASSERT_TRUE(parsed) << text << ": " << error;
            EXPECT_EQ(format_point(*parsed), text);
        }
    }
}

TEST(InjectionPoint, RefusesHostileText)
{
    std::string error;
    for (const char* text : {"", "kv", "kv,flip,.text.a+0x0/1#1,-,-,0", "kv,skip,.text.a+0x0/0#1,-,-,0",
                             "kv,skip,.text.a+0x0/16#1,-,-,0", "kv,skip,.text.a+0x0/1#0,-,-,0", "kv,skip,.text.a+0x0/1#1,text,.t+0x0,0",
                             "kv,word,.text.a+0x0/1#1,-,-,0", "kv,bit,.text.a+0x0/1#1,stack,+0x0,64", "kv,bit,.text.a+0x0/1#1,stack,+0x100,1",
                             "kv,word,.text.a+0x0/1#1,data,.x y+0x0,1", "kv,word,.text.a+0xfffffffffffffffff/1#1,data,.x+0x0,1",
                             "kv,word,.text.a+0x0/1#1,heap,.x+0x0,1"}) {
        EXPECT_FALSE(parse_point(text, error)) << text;
        EXPECT_FALSE(error.empty());
    }
}

RunResult verdict_run(const std::string& verdict_line)
{
    RunResult result;
    result.report = parse_guest_console(verdict_line + "\n");
    return result;
}

TEST(Classification, FollowsTheIssuesDefinitions)
{
    const std::string clean = "fc: verdict=correct workload=kv faults=0 contained=0 wrong_answers=0 hung=0 frames_delta=0 heap_delta=0 allocations_delta=0 problem=\"\"";
    RunResult quiet = verdict_run(clean);
    classify(quiet, true);
    EXPECT_EQ(quiet.outcome, Outcome::NotManifested);
    RunResult untouched = verdict_run(clean);
    classify(untouched, false);
    EXPECT_EQ(untouched.outcome, Outcome::NotActivated);

    RunResult recovered = verdict_run("fc: verdict=correct workload=kv faults=1 contained=1 restarts=1 frames_delta=0 heap_delta=0 allocations_delta=0");
    classify(recovered, true);
    EXPECT_EQ(recovered.outcome, Outcome::Recovered);

    RunResult caught = verdict_run("fc: verdict=correct workload=kv faults=0 wrong_answers=2 reloads=1 frames_delta=0 heap_delta=0 allocations_delta=0");
    classify(caught, true);
    EXPECT_EQ(caught.outcome, Outcome::Recovered);

    // A call's leftovers released by call ownership (a skipped destructor, nothing faulted) are a
    // fault detected and recovered from; left behind they would be a leak.
    RunResult released = verdict_run("fc: verdict=correct workload=kv faults=0 wrong_answers=0 released=1 released_bytes=6 frames_delta=0 heap_delta=0 allocations_delta=0");
    classify(released, true);
    EXPECT_EQ(released.outcome, Outcome::Recovered);
    EXPECT_NE(released.what.find("released"), std::string::npos);
    RunResult released_but_leaked = verdict_run("fc: verdict=correct workload=kv faults=0 released=1 frames_delta=0 heap_delta=9 allocations_delta=2");
    classify(released_but_leaked, true);
    EXPECT_EQ(released_but_leaked.outcome, Outcome::Failed);

    RunResult leaked = verdict_run("fc: verdict=correct workload=kv faults=1 contained=1 frames_delta=1 heap_delta=0 allocations_delta=0");
    classify(leaked, true);
    EXPECT_EQ(leaked.outcome, Outcome::Failed);
    EXPECT_TRUE(leaked.leaked);

    RunResult silent = verdict_run("fc: verdict=wrong workload=kv faults=0 frames_delta=0 heap_delta=0 allocations_delta=0 problem=\"x\"");
    classify(silent, true);
    EXPECT_EQ(silent.outcome, Outcome::Failed);
    EXPECT_EQ(silent.what.rfind("silent", 0), 0u);

    RunResult hung = verdict_run("fc: verdict=correct workload=kv faults=0 hung=1 frames_delta=0 heap_delta=0 allocations_delta=0");
    classify(hung, true);
    EXPECT_EQ(hung.outcome, Outcome::Failed);

    RunResult died;
    died.report = parse_guest_console("delos: fault in task 3 (w) not contained: interrupts were masked\n");
    died.exit_status = 23;
    classify(died, true);
    EXPECT_EQ(died.outcome, Outcome::Failed);
    EXPECT_TRUE(died.vm_died);
    EXPECT_NE(died.what.find("not contained"), std::string::npos);

    RunResult timed_out;
    timed_out.hang = true;
    classify(timed_out, true);
    EXPECT_EQ(timed_out.outcome, Outcome::Failed);
    EXPECT_NE(timed_out.what.find("hang"), std::string::npos);
}

// Each workload injects into its own target cell (whose object the coverage run disassembles):
// the counter workload into the boot set's counter cell itself, the pages workload into fc_pages.
TEST(Workloads, EachHasItsTargetCell)
{
    EXPECT_EQ(target_of_workload("kv"), "fc_kvserver");
    EXPECT_EQ(target_of_workload("pipeline"), "fc_pipeline");
    EXPECT_EQ(target_of_workload("session"), "fc_session");
    EXPECT_EQ(target_of_workload("session-stateful"), "fc_session");
    EXPECT_EQ(target_of_workload("counter"), "counter");
    EXPECT_EQ(target_of_workload("pages"), "fc_pages");
    EXPECT_EQ(target_of_workload("kernel"), "");  // the core is out of scope
}

} // namespace

// A run that never faulted the guest is run again; a deterministic refusal and every guest
// outcome are not (a retry must not turn a failure into a pass).
TEST(CampaignRun, OnlyRunsThatNeverFaultedTheGuestAreRetried)
{
    EXPECT_TRUE(is_retryable_harness_error("harness: injecting: E14"));
    EXPECT_TRUE(is_retryable_harness_error("harness: debugger: E14"));
    EXPECT_TRUE(is_retryable_harness_error("harness: the workload was not ready within 20 s"));
    EXPECT_TRUE(is_retryable_harness_error("harness: the VM ended before the workload was ready (exit 1)"));
    EXPECT_FALSE(is_retryable_harness_error("harness: the guest has no section .text.x large enough for the trigger"));
    EXPECT_FALSE(is_retryable_harness_error("hang: no verdict within 20 s"));
    EXPECT_FALSE(is_retryable_harness_error("leak: heap bytes 128"));
    EXPECT_FALSE(is_retryable_harness_error(""));
}
