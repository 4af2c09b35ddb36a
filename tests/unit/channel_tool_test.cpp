// channel_tool_test.cpp: delos-chan (libprotobuf) against the fake guest (the guest's own
// freestanding codec, framing and SHA-256) over a real unix socket: every command, its text
// and --json output, exit codes, events arriving mid-command, bad frames answered with
// errors while the guest stays up, and a client that disconnects mid-push.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "abi/channel_limits.h"
#include "chan_command.h"
#include "delos/v1/channel.pb.h"
#include "fake_guest.h"
#include "fault_report_text.h"
#include "test_cell_object.h"
#include "lib/elf/elf64.h"
#include "linker/cell_info.h"

using namespace delos;
namespace v1 = delos::v1;
using delos::chan::FakeGuest;
using delos::test::make_cell_object;

namespace {

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

v1::GuestMessage parse_json_message(const std::string& line)
{
    v1::GuestMessage message;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &message).ok()) << line;
    return message;
}

// A client that speaks raw frames, to send what delos-chan never would.
class RawClient {
public:
    explicit RawClient(const std::string& path)
    {
        m_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, path.c_str());
        EXPECT_EQ(::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    }
    ~RawClient() { close(); }
    void close()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
    }
    void send_bytes(const std::string& bytes) { ASSERT_EQ(::write(m_fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size())); }
    void send_payload(const std::string& payload)
    {
        auto length = static_cast<std::uint32_t>(payload.size());
        send_bytes(std::string(reinterpret_cast<const char*>(&length), 4) + payload);
    }
    void send(const v1::HostMessage& message) { send_payload(message.SerializeAsString()); }
    // The next reply; events are skipped.
    v1::Reply reply()
    {
        for (;;) {
            std::string header = read_exactly(4);
            std::uint32_t length;
            std::memcpy(&length, header.data(), 4);
            v1::GuestMessage message;
            EXPECT_TRUE(message.ParseFromString(read_exactly(length)));
            if (message.has_reply())
                return message.reply();
        }
    }

private:
    std::string read_exactly(std::size_t size)
    {
        std::string out(size, '\0');
        std::size_t got = 0;
        while (got < size) {
            ssize_t n = ::read(m_fd, out.data() + got, size - got);
            if (n <= 0) {
                ADD_FAILURE() << "connection ended";
                return out;
            }
            got += static_cast<std::size_t>(n);
        }
        return out;
    }
    int m_fd = -1;
};

class ChannelTool : public ::testing::Test {
protected:
    void SetUp() override
    {
        static std::atomic<int> counter{0};
        m_directory = "/tmp/delos-chan-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        ASSERT_EQ(::mkdir(m_directory.c_str(), 0700), 0);
        m_socket = m_directory + "/control.sock";
        m_guest = std::make_unique<FakeGuest>(m_socket);
    }
    void TearDown() override
    {
        m_guest.reset();
        for (const std::string& file : m_files)
            ::unlink(file.c_str());
        ::rmdir(m_directory.c_str());
    }

    struct Result {
        int code;
        std::string out;
        std::string err;
    };
    Result run(std::vector<std::string> arguments)
    {
        arguments.insert(arguments.begin(), {"--socket", m_socket, "--timeout", "5"});
        std::ostringstream out, err;
        int code = chan::run_chan(arguments, out, err);
        return {code, out.str(), err.str()};
    }
    std::string write_file(const std::string& name, const std::string& bytes)
    {
        std::string path = m_directory + "/" + name;
        std::ofstream(path, std::ios::binary) << bytes;
        m_files.push_back(path);
        return path;
    }

    std::string m_directory;
    std::string m_socket;
    std::unique_ptr<FakeGuest> m_guest;
    std::vector<std::string> m_files;
};

} // namespace

TEST_F(ChannelTool, HelloNegotiatesAndReportsTheGuestLimits)
{
    Result text = run({"hello"});
    ASSERT_EQ(text.code, chan::kExitOk) << text.err;
    EXPECT_EQ(text.out, "protocol 2, kernel fake-0.1.0, frames up to " + std::to_string(channel::kMaxFrameBytes)
                            + " bytes, chunks up to " + std::to_string(channel::kMaxChunkBytes) + " bytes\n");

    Result json = run({"--json", "hello"});
    ASSERT_EQ(json.code, chan::kExitOk);
    std::vector<std::string> lines = lines_of(json.out);
    ASSERT_EQ(lines.size(), 2u) << json.out;  // the connection's Ready event, then the result
    EXPECT_EQ(parse_json_message(lines[0]).event().ready().kernel_version(), "fake-0.1.0");
    v1::GuestMessage hello = parse_json_message(lines[1]);
    EXPECT_EQ(hello.reply().hello().version(), channel::kProtocolVersionMax);
    EXPECT_EQ(hello.reply().hello().max_chunk_bytes(), channel::kMaxChunkBytes);
}

TEST_F(ChannelTool, PingMeasuresRoundTrips)
{
    Result once = run({"ping"});
    ASSERT_EQ(once.code, chan::kExitOk) << once.err;
    EXPECT_EQ(once.out.rfind("pong in ", 0), 0u) << once.out;

    Result many = run({"--json", "ping", "--count", "500"});
    ASSERT_EQ(many.code, chan::kExitOk) << many.err;
    std::string summary = lines_of(many.out).back();
    EXPECT_NE(summary.find("{\"ping\":{\"count\":500,"), std::string::npos) << summary;
    double median = std::stod(summary.substr(summary.find("\"median_us\":") + 12));
    std::printf("delos-chan ping against the fake guest: median %.1f us (target <= 200 us)\n", median);
    EXPECT_GT(median, 0.0);
    EXPECT_LT(median, 20000.0) << "a no-op round trip on one host taking 20 ms means something is broken";
    EXPECT_GE(m_guest->frames_answered(), 502u) << "hello + 1 + 500 pings";
}

TEST_F(ChannelTool, PushLoadListUnload)
{
    std::string object = make_cell_object("probe", "2.0.1", 3000);
    std::string path = write_file("probe.o", object);

    Result pushed = run({"--json", "push", path, "--load"});
    ASSERT_EQ(pushed.code, chan::kExitOk) << pushed.err;
    std::vector<std::string> lines = lines_of(pushed.out);
    ASSERT_EQ(lines.size(), 4u) << pushed.out;  // ready, push summary, log event from the load, load reply
    unsigned char digest[32];
    SHA256(reinterpret_cast<const unsigned char*>(object.data()), object.size(), digest);
    std::string push_line = lines[1];
    EXPECT_NE(push_line.find("\"name\":\"probe\""), std::string::npos) << push_line;
    EXPECT_NE(push_line.find("\"bytes\":" + std::to_string(object.size())), std::string::npos);
    EXPECT_NE(push_line.find("\"state\":\"CELL_STATE_STAGED\""), std::string::npos) << push_line;
    // 3000 bytes of .rodata plus the 72-byte DELOS_CELL record, also read-only data.
    EXPECT_NE(push_line.find("\"rodata_bytes\":\"3072\""), std::string::npos) << push_line;
    // The cell's log line arrived while delos-chan waited for the load reply, and was printed.
    v1::GuestMessage log = parse_json_message(lines[2]);
    EXPECT_EQ(log.event().log_line().cell(), "probe");
    EXPECT_EQ(log.event().log_line().text(), "loaded probe 2.0.1 (generation 1)");
    v1::GuestMessage loaded = parse_json_message(lines[3]);
    EXPECT_EQ(loaded.reply().load_cell().cell().state(), v1::CELL_STATE_LOADED);
    EXPECT_EQ(loaded.reply().load_cell().cell().version(), "2.0.1");
    EXPECT_EQ(loaded.reply().load_cell().cell().sha256(), std::string(reinterpret_cast<char*>(digest), 32));

    Result listed = run({"list"});
    ASSERT_EQ(listed.code, chan::kExitOk);
    EXPECT_NE(listed.out.find("probe               2.0.1       1    loaded"), std::string::npos) << listed.out;

    // A second push of a loaded cell stages beside it; its load is refused (no live replacement
    // yet), reported as a failed load, and leaves the staged copy for a load after an unload.
    Result again = run({"push", path, "--load"});
    EXPECT_EQ(again.code, chan::kExitGuestError);
    EXPECT_NE(again.out.find("pushed probe"), std::string::npos) << again.out;
    EXPECT_EQ(again.err, "delos-chan: load failed: already-exists: a cell of that name is loaded (swap it, or unload it first)\n");
    Result both = run({"list"});
    EXPECT_NE(both.out.find("probe               2.0.1       1    loaded"), std::string::npos) << both.out;
    EXPECT_NE(both.out.find("staged"), std::string::npos) << both.out;
    ASSERT_EQ(run({"unload", "probe"}).code, chan::kExitOk);
    Result reloaded = run({"load", "probe"});
    ASSERT_EQ(reloaded.code, chan::kExitOk) << reloaded.err;
    EXPECT_EQ(reloaded.out, "loaded probe 2.0.1 (generation 1)\n");
    EXPECT_EQ(run({"list"}).out.find("staged"), std::string::npos) << "the load took the staged copy";

    Result unloaded = run({"unload", "probe"});
    ASSERT_EQ(unloaded.code, chan::kExitOk) << unloaded.err;
    EXPECT_EQ(unloaded.out, "unloaded probe\n");
    EXPECT_EQ(run({"list"}).out.find("probe"), std::string::npos);
}

// stats lists the tasks of each cell as the guest grouped them (the kernel's first).
TEST_F(ChannelTool, StatsShowsTheTasksOfEachCell)
{
    Result stats = run({"stats"});
    ASSERT_EQ(stats.code, chan::kExitOk) << stats.err;
    EXPECT_NE(stats.out.find("(kernel)"), std::string::npos) << stats.out;
    EXPECT_NE(stats.out.find("kernel_main, idle, control-agent"), std::string::npos) << stats.out;
    Result listed = run({"list"});
    EXPECT_NE(listed.out.find("TASKS"), std::string::npos) << listed.out;
}

TEST_F(ChannelTool, PushOfOneMebibyteInChunksWithProgress)
{
    std::string object = make_cell_object("big", "1.0.0", 1 << 20);
    std::string path = write_file("big.o", object);
    Result pushed = run({"--json", "push", path, "--progress"});
    ASSERT_EQ(pushed.code, chan::kExitOk) << pushed.err;
    EXPECT_NE(pushed.err.find("100% (1.0 MiB of 1.0 MiB)"), std::string::npos) << pushed.err;
    std::string summary = lines_of(pushed.out).back();
    double rate = std::stod(summary.substr(summary.find("\"mib_per_second\":") + 17));
    std::printf("delos-chan push of a 1 MiB cell to the fake guest: %.0f MiB/s (target >= 100 MiB/s)\n", rate);
    // 1 MiB + header in 128 KiB chunks: begin, 9 chunks, commit, plus hello.
    EXPECT_EQ(m_guest->frames_answered(), 12u);

    Result small_chunks = run({"push", path, "--chunk-size", "1000", "--window", "3"});
    ASSERT_EQ(small_chunks.code, chan::kExitOk) << small_chunks.err;
    EXPECT_EQ(small_chunks.err.find("%"), std::string::npos) << "no progress unless asked or interactive";
}

TEST_F(ChannelTool, GuestErrorsExitOneWithTheExactReason)
{
    Result missing = run({"load", "nosuch"});
    EXPECT_EQ(missing.code, chan::kExitGuestError);
    EXPECT_EQ(missing.err, "delos-chan: load failed: not-found: no cell of that name in the boot archive\n");

    Result busy = run({"--json", "unload", "log"});
    EXPECT_EQ(busy.code, chan::kExitGuestError);
    EXPECT_EQ(busy.err, "delos-chan: unload failed: busy: other loaded cells depend on this one (1)\n");
    EXPECT_NE(busy.out.find("{\"error\":{\"code\":\"STATUS_BUSY\",\"reason\":\"other loaded cells depend on this one\",\"value\":\"1\"}}"),
              std::string::npos)
        << busy.out;

    Result already = run({"push", write_file("kv.o", make_cell_object("kv", "9.9.9", 10)), "--name", "kv"});
    EXPECT_EQ(already.code, chan::kExitOk) << "staging beside a loaded kv is fine";
    Result bad_name = run({"push", write_file("x.o", make_cell_object("probe", "1.0", 10)), "--name", "Bad-Name"});
    EXPECT_EQ(bad_name.code, chan::kExitGuestError);
    EXPECT_NE(bad_name.err.find("invalid-argument: cell name must be [a-z][a-z0-9_]*, at most 31 bytes (8)"), std::string::npos) << bad_name.err;
    Result mismatch = run({"push", write_file("other.o", make_cell_object("probe", "1.0", 10)), "--name", "other"});
    EXPECT_EQ(mismatch.code, chan::kExitGuestError);
    EXPECT_NE(mismatch.err.find("push name differs from the cell's DELOS_CELL name"), std::string::npos) << mismatch.err;
}

TEST_F(ChannelTool, GarbageElfIsRefusedAndTheGuestStaysUp)
{
    std::string garbage(5000, '\0');
    std::mt19937 rng(3);
    for (char& c : garbage)
        c = static_cast<char>(rng());
    Result refused = run({"push", write_file("garbage.o", garbage)});
    EXPECT_EQ(refused.code, chan::kExitGuestError);
    EXPECT_EQ(refused.err, "delos-chan: push failed: malformed: not an ELF file (bad magic)\n");

    std::string truncated = make_cell_object("probe", "1.0.0", 100).substr(0, 100);
    Result short_elf = run({"push", write_file("probe.o", truncated)});
    EXPECT_EQ(short_elf.code, chan::kExitGuestError);
    EXPECT_NE(short_elf.err.find("section header table lies outside the file"), std::string::npos) << short_elf.err;

    EXPECT_EQ(run({"ping"}).code, chan::kExitOk);
    EXPECT_EQ(run({"list"}).out.find("probe"), std::string::npos) << "nothing half-pushed is left behind";
}

TEST_F(ChannelTool, ConnectionFailuresExitTwoWithOneLine)
{
    Result absent = run({"--socket", "/tmp/delos-chan-test-no-such.sock", "ping"});
    EXPECT_EQ(absent.code, chan::kExitConnection);
    EXPECT_EQ(absent.err, "delos-chan: cannot connect to /tmp/delos-chan-test-no-such.sock: No such file or directory\n");

    // A peer that accepts, reads, and never answers: the reply wait times out.
    std::string silent_path = m_socket + ".silent";
    int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, silent_path.c_str());
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    std::ostringstream out, err;
    int code = chan::run_chan({"--socket", silent_path, "--timeout", "1", "ping"}, out, err);
    EXPECT_EQ(code, chan::kExitConnection);
    EXPECT_EQ(err.str(), "delos-chan: no reply from the guest within 1000 ms\n");
    ::close(::accept(listener, nullptr, nullptr));  // the connection that timed out

    // A peer that reads the hello and closes the connection.
    std::thread closer([&] {
        int fd = ::accept(listener, nullptr, nullptr);
        char hello[256];
        [[maybe_unused]] ssize_t got = ::read(fd, hello, sizeof hello);
        ::close(fd);
    });
    std::ostringstream out2, err2;
    code = chan::run_chan({"--socket", silent_path, "ping"}, out2, err2);
    closer.join();
    EXPECT_EQ(code, chan::kExitConnection);
    EXPECT_EQ(err2.str(), "delos-chan: connection closed by the guest\n");
    ::close(listener);
    ::unlink(silent_path.c_str());
}

TEST_F(ChannelTool, UsageErrors)
{
    std::ostringstream out, err;
    EXPECT_EQ(chan::run_chan({"ping"}, out, err), chan::kExitUsage);
    EXPECT_NE(err.str().find("--socket PATH is required"), std::string::npos);
    EXPECT_EQ(run({"frobnicate"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"ping", "--count", "many"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"load"}).code, chan::kExitUsage);
    Result missing_file = run({"push", "/tmp/delos-chan-test-no-such-file.o"});
    EXPECT_EQ(missing_file.code, chan::kExitUsage);
    EXPECT_NE(missing_file.err.find("cannot read /tmp/delos-chan-test-no-such-file.o"), std::string::npos);
}

TEST_F(ChannelTool, WatchPrintsEventsAsTheyArrive)
{
    Result result{};
    std::thread watcher([&] { result = run({"watch", "--count", "3"}); });
    ASSERT_TRUE(m_guest->wait_connected(5000));
    m_guest->emit_log("kv", channel::LogLevel::Warn, "disk almost full");
    channel::FaultReport fault;
    fault.task_id = 7;
    fault.task_name = "worker";
    fault.cell_name = "kv";
    fault.cell_version = "1.2.0";
    fault.symbol = "kv::put";
    fault.symbol_offset = 0x12;
    fault.kind = channel::FaultKind::PageFault;
    fault.address = 0x8;
    fault.instruction_pointer = 0x100012;
    fault.action = channel::RecoveryAction::TaskRestarted;
    fault.message = "write to unmapped page";
    channel::BacktraceFrame frame;
    frame.address = 0x100400;
    frame.symbol = "kv::handle";
    frame.offset = 4;
    frame.cell = "kv";
    fault.backtrace.append(frame);
    m_guest->emit_fault(std::move(fault));
    watcher.join();
    ASSERT_EQ(result.code, chan::kExitOk) << result.err;
    EXPECT_EQ(result.out,
              "ready: kernel fake-0.1.0, 2 cells loaded, booted in 1.5 ms, protocol 1..2\n"
              "log [warn] kv: disk almost full\n"
              "fault: page-fault in cell kv 1.2.0 at kv::put+0x12 (task 7 worker, address 0x8, ip 0x100012), "
              "action task-restarted: write to unmapped page\n"
              "  #0 0x100400 kv::handle+0x4 (kv)\n");
}

// `delos-chan faults`: the guest's fault ring (ListFaults, field 22) as crash reports: kind,
// cell@version, build id, section+offset and symbol+offset, registers, backtrace, and the
// (boot id, fault sequence) pair a collector de-duplicates by; --json prints the reply as is.
TEST_F(ChannelTool, FaultsPrintsTheGuestsFaultRingAsCrashReports)
{
    auto empty = run({"faults"});
    ASSERT_EQ(empty.code, chan::kExitOk) << empty.err;
    EXPECT_EQ(empty.out, "boot fa6efa6efa6efa6efa6efa6efa6efa6e: 0 fault(s) recorded, the newest 0 kept\n");

    for (int i = 0; i < 18; ++i) {
        channel::FaultReport fault;
        fault.task_id = 40 + i;
        fault.task_name = "overflow";
        fault.cell_name = "runaway";
        fault.cell_version = "1.0.0";
        fault.cell_build_id = "0123456789abcdef0123456789abcdef01234567";
        fault.section = ".text.runaway_recurse";
        fault.section_offset = 0x1d;
        fault.symbol = "runaway_recurse";
        fault.symbol_offset = 0x1d;
        fault.kind = channel::FaultKind::StackOverflow;
        fault.vector = 257;
        fault.instruction_pointer = 0x41101d;
        fault.action = channel::RecoveryAction::TaskKilled;
        fault.registers.rsp = 0x41a008;
        fault.registers.rip = 0x115b05;
        fault.registers.rflags = 0x246;
        channel::BacktraceFrame frame;
        frame.address = 0x411040;
        frame.symbol = "runaway_recurse";
        frame.offset = 0x40;
        frame.cell = "runaway";
        fault.backtrace.append(frame);
        frame.address = 0x159a00;
        frame.symbol = "delos_task_entry";
        frame.offset = 0x32;
        frame.cell = "";
        fault.backtrace.append(frame);
        m_guest->emit_fault(std::move(fault));  // no host connected: kept in the ring only
    }
    auto listed = run({"faults"});
    ASSERT_EQ(listed.code, chan::kExitOk) << listed.err;
    EXPECT_EQ(listed.out.rfind("boot fa6efa6efa6efa6efa6efa6efa6efa6e: 18 fault(s) recorded, the newest 16 kept\n", 0), 0u)
        << listed.out;
    EXPECT_EQ(listed.out.find("=== fault #2 of boot"), std::string::npos) << "the ring keeps the newest 16";
    const std::string report = "=== fault #18 of boot fa6efa6efa6efa6efa6efa6efa6efa6e ===\n"
                               "stack-overflow (vector 257, error 0x0) in cell runaway@1.0.0\n"
                               "  task 57 'overflow'\n"
                               "  rip 0x41101d = runaway@1.0.0 build 0123456789abcdef0123456789abcdef01234567 "
                               ".text.runaway_recurse+0x1d = runaway_recurse+0x1d\n"
                               "  rax 0000000000000000  rbx 0000000000000000  rcx 0000000000000000  rdx 0000000000000000\n"
                               "  rsi 0000000000000000  rdi 0000000000000000  rbp 0000000000000000  rsp 000000000041a008\n"
                               "  r8  0000000000000000  r9  0000000000000000  r10 0000000000000000  r11 0000000000000000\n"
                               "  r12 0000000000000000  r13 0000000000000000  r14 0000000000000000  r15 0000000000000000\n"
                               "  rip 0000000000115b05  rflags 0000000000000246\n"
                               "  backtrace:\n"
                               "    #0  0x0000000000411040 runaway_recurse+0x40 (runaway)\n"
                               "    #1  0x0000000000159a00 delos_task_entry+0x32 (kernel)\n"
                               "  recovery: task-killed\n";
    EXPECT_NE(listed.out.find(report), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("=== fault #3 of boot"), std::string::npos) << listed.out;

    auto json = run({"--json", "faults"});
    ASSERT_EQ(json.code, chan::kExitOk) << json.err;
    EXPECT_NE(json.out.find("\"fault_sequence\":\"18\""), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"kind\":\"FAULT_KIND_STACK_OVERFLOW\""), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"cell_build_id\":\"0123456789abcdef0123456789abcdef01234567\""), std::string::npos) << json.out;
}

// Guest strings are data: control characters cannot forge lines of the report, long ones are cut,
// and an enum value this host does not know is named by number.
TEST(FaultReportText, HostileFieldsArePrintedAsData)
{
    v1::FaultReport report;
    report.set_cell_name("kv\n=== fault #1 of boot forged ===");
    report.set_symbol(std::string(5000, 'A'));
    report.set_kind(static_cast<v1::FaultKind>(99));
    report.set_action(static_cast<v1::RecoveryAction>(77));
    std::string text = controller::fault_report_text(report);
    EXPECT_EQ(text.find("\n=== fault #1 of boot forged"), std::string::npos) << text;
    EXPECT_NE(text.find("kv?=== fault #1"), std::string::npos) << text;
    EXPECT_NE(text.find("unknown-99"), std::string::npos) << text;
    EXPECT_NE(text.find("unknown-77"), std::string::npos) << text;
    EXPECT_LT(text.size(), 2000u) << "a 5000-byte symbol is cut";
}

// delosctl prints the same body under delosd's heading: a cell's generation and its own fault
// count are part of it when the guest sent them, and left out when it did not (zero).
TEST(FaultReportText, BodyNamesTheGenerationAndTheCellsFaultCountWhenKnown)
{
    v1::FaultReport report;
    report.set_cell_name("kv");
    report.set_cell_version("1.2.0");
    report.set_kind(v1::FAULT_KIND_PAGE_FAULT);
    report.set_vector(14);
    report.set_boot_id("b007");
    report.set_fault_sequence(9);
    EXPECT_EQ(controller::fault_report_body(report).rfind("page-fault (vector 14, error 0x0) in cell kv@1.2.0\n", 0), 0u)
        << controller::fault_report_body(report);
    report.set_cell_generation(2);
    report.set_fault_count(3);
    std::string body = controller::fault_report_body(report);
    EXPECT_EQ(body.rfind("page-fault (vector 14, error 0x0) in cell kv@1.2.0 (generation 2, fault #3 of this cell)\n", 0), 0u) << body;
    EXPECT_EQ(controller::fault_report_text(report), "=== fault #9 of boot b007 ===\n" + body);
}

TEST_F(ChannelTool, BadFramesGetErrorRepliesAndTheGuestStaysUp)
{
    RawClient raw(m_socket);

    // Oversized: the guest cannot read it, but still answers its request id and skips it.
    v1::HostMessage huge;
    huge.set_request_id(77);
    huge.mutable_push_chunk()->set_data(std::string(channel::kMaxFrameBytes, 'x'));
    raw.send(huge);
    v1::Reply oversized = raw.reply();
    EXPECT_EQ(oversized.request_id(), 77u);
    EXPECT_EQ(oversized.status().code(), v1::STATUS_OUT_OF_RANGE);
    EXPECT_EQ(oversized.status().reason(), "frame length exceeds the limit");
    EXPECT_EQ(oversized.status().value(), huge.ByteSizeLong());

    // Truncated message: error for the request id read before the damage.
    raw.send_payload(std::string("\x08\x05\x62\x09\x0a", 5));
    v1::Reply truncated = raw.reply();
    EXPECT_EQ(truncated.request_id(), 5u);
    EXPECT_EQ(truncated.status().code(), v1::STATUS_MALFORMED);
    EXPECT_EQ(truncated.status().reason(), "length-delimited field runs past the end");

    // A zero-length frame: no request (and no request id to answer to).
    raw.send_payload(std::string());
    v1::Reply empty = raw.reply();
    EXPECT_EQ(empty.request_id(), 0u);
    EXPECT_EQ(empty.status().code(), v1::STATUS_MALFORMED);
    EXPECT_EQ(empty.status().reason(), "message carries no request");

    // A group on a known field (hello, field 10, as a start-group tag).
    raw.send_payload(std::string("\x08\x07\x53\x54", 4));
    v1::Reply group = raw.reply();
    EXPECT_EQ(group.request_id(), 7u);
    EXPECT_EQ(group.status().code(), v1::STATUS_UNSUPPORTED);
    EXPECT_EQ(group.status().reason(), "groups are not supported");
    EXPECT_EQ(group.status().value(), 10u);

    // A request kind from a newer host.
    v1::HostMessage future;
    future.set_request_id(6);
    future.GetReflection()->MutableUnknownFields(&future)->AddLengthDelimited(40, "");
    raw.send(future);
    v1::Reply unsupported = raw.reply();
    EXPECT_EQ(unsupported.status().code(), v1::STATUS_UNSUPPORTED);
    EXPECT_EQ(unsupported.status().value(), 40u);

    // Wrong digest: every chunk accepted, the commit refused.
    std::string object = make_cell_object("probe", "1.0.0", 100);
    v1::HostMessage begin;
    begin.set_request_id(8);
    begin.mutable_push_begin()->set_name("probe");
    begin.mutable_push_begin()->set_total_size(object.size());
    begin.mutable_push_begin()->set_sha256(std::string(32, '\0'));
    raw.send(begin);
    v1::Reply begun = raw.reply();
    ASSERT_EQ(begun.status().code(), v1::STATUS_OK);
    v1::HostMessage chunk;
    chunk.set_request_id(9);
    chunk.mutable_push_chunk()->set_push_id(begun.push_begin().push_id());
    chunk.mutable_push_chunk()->set_data(object);
    raw.send(chunk);
    EXPECT_EQ(raw.reply().push_chunk().received_bytes(), object.size());
    // A chunk at the wrong offset is refused without ending the push.
    chunk.set_request_id(10);
    chunk.mutable_push_chunk()->set_offset(3);
    raw.send(chunk);
    v1::Reply misplaced = raw.reply();
    EXPECT_EQ(misplaced.status().reason(), "chunk offset is not where the push left off");
    EXPECT_EQ(misplaced.status().value(), 3u);
    v1::HostMessage commit;
    commit.set_request_id(11);
    commit.mutable_push_commit()->set_push_id(begun.push_begin().push_id());
    raw.send(commit);
    v1::Reply wrong_digest = raw.reply();
    EXPECT_EQ(wrong_digest.request_id(), 11u);
    EXPECT_EQ(wrong_digest.status().code(), v1::STATUS_MALFORMED);
    EXPECT_EQ(wrong_digest.status().reason(), "sha256 digest does not match the pushed bytes");

    // Still up, still in sync.
    v1::HostMessage ping;
    ping.set_request_id(12);
    ping.mutable_ping();
    raw.send(ping);
    v1::Reply pong = raw.reply();
    EXPECT_EQ(pong.request_id(), 12u);
    EXPECT_EQ(pong.status().code(), v1::STATUS_OK);
    EXPECT_TRUE(pong.has_ping());
}

TEST_F(ChannelTool, DisconnectMidPushLosesNothingElse)
{
    std::string object = make_cell_object("probe", "1.0.0", 50000);
    {
        RawClient raw(m_socket);
        v1::HostMessage begin;
        begin.set_request_id(1);
        begin.mutable_push_begin()->set_name("probe");
        begin.mutable_push_begin()->set_total_size(object.size());
        begin.mutable_push_begin()->set_sha256(std::string(32, 's'));
        raw.send(begin);
        std::uint32_t push_id = raw.reply().push_begin().push_id();
        v1::HostMessage chunk;
        chunk.set_request_id(2);
        chunk.mutable_push_chunk()->set_push_id(push_id);
        chunk.mutable_push_chunk()->set_data(object.substr(0, 20000));
        std::string frame = chunk.SerializeAsString();
        auto length = static_cast<std::uint32_t>(frame.size());
        // Half a frame, then gone.
        raw.send_bytes(std::string(reinterpret_cast<const char*>(&length), 4) + frame.substr(0, frame.size() / 2));
    }
    Result listed = run({"--json", "list"});
    ASSERT_EQ(listed.code, chan::kExitOk) << listed.err;
    v1::GuestMessage cells = parse_json_message(lines_of(listed.out).back());
    ASSERT_EQ(cells.reply().list_cells().cells_size(), 2);
    EXPECT_EQ(cells.reply().list_cells().cells(0).name(), "log");
    EXPECT_EQ(cells.reply().list_cells().cells(1).name(), "kv");

    Result pushed = run({"push", write_file("probe.o", object)});
    EXPECT_EQ(pushed.code, chan::kExitOk) << pushed.err;
    EXPECT_EQ(m_guest->connections(), 3u);
}

TEST_F(ChannelTool, PushSwapThenRollbackReportsGenerationsAndStages)
{
    ASSERT_EQ(run({"push", write_file("probe.o", make_cell_object("probe", "1.0.0", 100)), "--load"}).code, chan::kExitOk);
    std::string v2 = write_file("probe2.o", make_cell_object("probe", "2.0.0", 200));

    Result swapped = run({"--json", "push", v2, "--name", "probe", "--swap"});
    ASSERT_EQ(swapped.code, chan::kExitOk) << swapped.err;
    std::vector<std::string> lines = lines_of(swapped.out);
    // ready, then (one pipelined exchange: the event arrives before the push is reported) the
    // CellSwapped event, the push summary, the swap reply.
    ASSERT_EQ(lines.size(), 4u) << swapped.out;
    v1::GuestMessage event = parse_json_message(lines[1]);
    ASSERT_TRUE(event.event().has_cell_swapped()) << lines[1];
    EXPECT_EQ(lines[2].rfind("{\"push\":{\"name\":\"probe\"", 0), 0u) << lines[2];
    v1::GuestMessage reply = parse_json_message(lines[3]);
    const v1::CellSwapped& report = reply.reply().swap_cells().swapped();
    ASSERT_EQ(report.cells_size(), 1);
    EXPECT_EQ(report.cells(0).name(), "probe");
    EXPECT_EQ(report.cells(0).old_version(), "1.0.0");
    EXPECT_EQ(report.cells(0).new_version(), "2.0.0");
    EXPECT_EQ(report.cells(0).old_generation(), 1u);
    EXPECT_EQ(report.cells(0).new_generation(), 2u);
    EXPECT_GT(report.timing().repoint_ns(), 0u);
    EXPECT_FALSE(report.rollback());

    Result back = run({"rollback", "probe"});
    ASSERT_EQ(back.code, chan::kExitOk) << back.err;
    EXPECT_EQ(back.out.rfind("rolled back probe 2.0.0 (generation 2) -> 1.0.0 (generation 3) in 250.0 us (load 110.0 us, "
                             "link 90.0 us, verify 10.0 us, transfer 20.0 us, re-point 5.0 us, cleanup 15.0 us), "
                             "3 relocations re-pointed",
                             0),
              0u)
        << back.out;
    EXPECT_NE(back.err.find("event: rolled back probe"), std::string::npos) << back.err;  // the event, on stderr

    // swap NAME uses the cell staged under NAME (CELL=OBJECT would name the object explicitly,
    // e.g. a version in the guest's boot archive: kv=kv.v2).
    ASSERT_EQ(run({"push", v2}).code, chan::kExitGuestError);  // probe2.o declares itself as probe
    ASSERT_EQ(run({"push", v2, "--name", "probe"}).code, chan::kExitOk);
    Result explicit_object = run({"swap", "probe=probe"});
    ASSERT_EQ(explicit_object.code, chan::kExitOk) << explicit_object.err;
    EXPECT_EQ(explicit_object.out.rfind("swapped probe 1.0.0 (generation 3) -> 2.0.0 (generation 4)", 0), 0u) << explicit_object.out;
    EXPECT_NE(run({"list"}).out.find("probe               2.0.0       4    loaded"), std::string::npos);
}

// push --swap sends begin, chunks, commit and swap without waiting (protocol 2): what the guest
// refuses first is what delos-chan reports, and nothing is swapped or left staged.
TEST_F(ChannelTool, APipelinedPushSwapReportsTheFirstRefusalAndSwapsNothing)
{
    ASSERT_EQ(run({"push", write_file("probe.o", make_cell_object("probe", "1.0.0", 100)), "--load"}).code, chan::kExitOk);
    std::string v2 = write_file("probe2.o", make_cell_object("probe", "2.0.0", 300 * 1024));
    Result bad_name = run({"push", v2, "--name", "Probe", "--swap"});
    EXPECT_EQ(bad_name.code, chan::kExitGuestError);
    EXPECT_NE(bad_name.err.find("invalid-argument: cell name must be"), std::string::npos) << bad_name.err;
    Result other_cell = run({"push", v2, "--name", "kv", "--swap"});  // commit refuses: the object says probe
    EXPECT_EQ(other_cell.code, chan::kExitGuestError);
    EXPECT_NE(other_cell.err.find("push name differs"), std::string::npos) << other_cell.err;
    Result listed = run({"list"});
    EXPECT_NE(listed.out.find("probe               1.0.0       1    loaded"), std::string::npos) << listed.out;
    EXPECT_EQ(listed.out.find("staged"), std::string::npos) << listed.out;
    Result swapped = run({"push", v2, "--name", "probe", "--swap"});
    ASSERT_EQ(swapped.code, chan::kExitOk) << swapped.err;
    EXPECT_NE(swapped.out.find("swapped probe 1.0.0 (generation 1) -> 2.0.0 (generation 2)"), std::string::npos) << swapped.out;
}

TEST_F(ChannelTool, SwapAndRollbackErrorsSayWhatWasRefused)
{
    Result nothing_staged = run({"swap", "kv"});
    EXPECT_EQ(nothing_staged.code, chan::kExitGuestError);
    EXPECT_EQ(nothing_staged.err, "delos-chan: swap failed: not-found: no staged cell for the new version (push it first)\n");
    Result no_history = run({"rollback", "kv"});
    EXPECT_EQ(no_history.code, chan::kExitGuestError);
    EXPECT_EQ(no_history.err, "delos-chan: rollback failed: not-found: no previous generation to roll back to\n");
    EXPECT_EQ(run({"swap"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"rollback"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"push", "x.o", "--load", "--swap"}).code, chan::kExitUsage);
}

// `policy` sends the whole policy (keys not given take the built-in defaults); a guest without
// fault recovery (the fake guest) refuses it with its reason; bad settings are usage errors.
TEST_F(ChannelTool, PolicySettingsAreCheckedAndAGuestWithoutRecoveryRefuses)
{
    Result refused = run({"policy", "kv", "window_ms=500", "max_reloads=1"});
    EXPECT_EQ(refused.code, chan::kExitGuestError);
    EXPECT_NE(refused.err.find("unsupported: this system has no fault recovery policy"), std::string::npos) << refused.err;
    EXPECT_EQ(run({"policy"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"policy", "kv", "window_ms"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"policy", "kv", "window_ms=x"}).code, chan::kExitUsage);
    EXPECT_EQ(run({"policy", "kv", "speed=3"}).code, chan::kExitUsage);
}
