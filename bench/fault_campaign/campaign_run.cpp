// campaign_run.cpp: QEMU process handling, the injection itself, and classification.
#include "campaign_run.h"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "gdb_remote_client.h"

namespace delos::fault_campaign {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The work directory is in /tmp and --keep-consoles may be on another file system: copy when a
// rename cannot move it there.
void keep_console(const std::string& from, const std::string& to)
{
    std::error_code error;
    std::filesystem::rename(from, to, error);
    if (error)
        std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, error);
}

class QemuProcess {
public:
    QemuProcess(const RunConfig& config, const std::string& workload, const std::string& serial_path,
                const std::string& gdb_path)
    {
        // -icount: the guest's clocks (TSC, PIT, timer interrupts) count executed instructions
        // instead of following the host clock, and sleep=off skips idle time at once. Without it
        // a run's interleavings follow the host's load: a replay injected the same fault but its
        // outcome varied (1 run in ~70 of fault_campaign.replays failed under load, once in CI).
        // With it, a run is a function of its point: the seed reproduces the campaign.
        std::vector<std::string> arguments{config.qemu, "-accel", "tcg", "-M", "microvm,acpi=off", "-m", "64M", "-nodefaults",
                                           "-no-user-config", "-nographic", "-no-reboot", "-kernel", config.kernel, "-initrd",
                                           config.archive, "-append", "run fc.workload=" + workload + " fc.wait_host",
                                           "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "file:" + serial_path,
                                           "-monitor", "none", "-gdb", "unix:" + gdb_path + ",server=on,wait=off",
                                           "-icount", "shift=2,sleep=off"};
        m_pid = ::fork();
        if (m_pid == 0) {
            int null = ::open("/dev/null", O_RDWR);
            if (null >= 0) {
                ::dup2(null, 0);
                ::dup2(null, 1);
                ::dup2(null, 2);
            }
            std::vector<char*> argv;
            for (auto& argument : arguments)
                argv.push_back(argument.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
    }
    ~QemuProcess() { kill(); }

    bool started() const { return m_pid > 0; }
    // True once it exited (status in exit_status()).
    bool poll_exit()
    {
        if (m_exited)
            return true;
        int status = 0;
        pid_t done = ::waitpid(m_pid, &status, WNOHANG);
        if (done == m_pid) {
            m_exited = true;
            m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return m_exited;
    }
    bool wait_exit(Clock::time_point deadline)
    {
        while (!poll_exit()) {
            if (Clock::now() >= deadline)
                return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }
    void kill()
    {
        if (m_pid > 0 && !poll_exit()) {
            ::kill(m_pid, SIGKILL);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_exited = true;
            m_status = -1;
        }
    }
    int exit_status() const { return m_status; }

private:
    pid_t m_pid = -1;
    bool m_exited = false;
    int m_status = -1;
};

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Boots and waits for the driver's ready line; false with `error` if the guest never got there.
bool wait_ready(QemuProcess& qemu, const RunConfig& config, const std::string& serial_path, GuestReport& report, std::string& error)
{
    auto deadline = Clock::now() + config.boot_timeout;
    for (;;) {
        report = parse_guest_console(read_file(serial_path));
        if (report.ready)
            return true;
        if (qemu.poll_exit()) {
            error = "the VM ended before the workload was ready (exit " + std::to_string(qemu.exit_status()) + "): " + report.last_kernel_line;
            return false;
        }
        if (Clock::now() >= deadline) {
            error = "the workload was not ready within the boot timeout";
            return false;
        }
        std::this_thread::sleep_for(10ms);
    }
}

const GuestSection* find_section(const std::vector<GuestSection>& sections, const std::string& name)
{
    for (const GuestSection& section : sections) {
        if (section.name == name && section.size > 0)
            return &section;
    }
    return nullptr;
}

std::string hex(std::uint64_t value)
{
    char text[32];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

bool start_measured_run(gdb::RemoteClient& debugger, const GuestReport& report)
{
    std::vector<std::uint8_t> one{1, 0, 0, 0, 0, 0, 0, 0};
    return debugger.write_memory(report.go_address, one) && debugger.resume();
}

} // namespace

const char* outcome_name(Outcome outcome)
{
    switch (outcome) {
    case Outcome::NotActivated: return "not activated";
    case Outcome::NotManifested: return "not manifested";
    case Outcome::Recovered: return "recovered";
    case Outcome::Failed: return "failed";
    }
    return "?";
}

std::string target_of_workload(const std::string& workload)
{
    if (workload == "kv")
        return "fc_kvserver";
    if (workload == "pipeline")
        return "fc_pipeline";
    if (workload == "session" || workload == "session-stateful")
        return "fc_session";
    if (workload == "counter")
        return "counter";
    if (workload == "pages")
        return "fc_pages";
    return "";
}

void classify(RunResult& result, bool injected)
{
    const GuestReport& report = result.report;
    if (!report.verdict) {
        result.outcome = Outcome::Failed;
        if (result.hang)
            result.what = "hang: no verdict before the deadline";
        else {
            result.vm_died = true;
            result.what = "VM died (QEMU exit " + std::to_string(result.exit_status) + ")"
                          + (report.uncontained ? ", fault not contained" : "") + ": " + report.last_kernel_line;
        }
        return;
    }
    const Verdict& verdict = *report.verdict;
    result.leaked = verdict.counter("frames_delta") != 0 || verdict.counter("heap_delta") != 0
                    || verdict.counter("allocations_delta") != 0;
    bool detected = verdict.counter("contained") > 0 || verdict.counter("faults") > 0 || verdict.counter("wrong_answers") > 0
                    || verdict.counter("hung") > 0 || report.contained_faults > 0
                    || verdict.counter("released") > 0;  // a call's leftovers the kernel released (call ownership)
    std::vector<std::string> problems;
    if (verdict.verdict != "correct")
        problems.push_back(verdict.verdict + " result" + (verdict.problem.empty() ? "" : ": " + verdict.problem));
    if (verdict.counter("hung") > 0)
        problems.push_back("hang: a worker stuck in the target was given up on");
    if (result.leaked)
        problems.push_back("leak: frames " + std::to_string(verdict.counter("frames_delta")) + ", heap bytes "
                           + std::to_string(verdict.counter("heap_delta")) + ", allocations "
                           + std::to_string(verdict.counter("allocations_delta")));
    if (verdict.counter("reload_failures") > 0)
        problems.push_back("a reload failed");
    if (!problems.empty()) {
        result.outcome = Outcome::Failed;
        for (std::size_t i = 0; i < problems.size(); ++i)
            result.what += (i ? "; " : "") + problems[i];
        if (!detected)
            result.what = "silent: " + result.what;
        return;
    }
    if (!injected) {
        result.outcome = Outcome::NotActivated;
        return;
    }
    if (detected) {
        result.outcome = Outcome::Recovered;
        result.what = std::to_string(verdict.counter("faults")) + " fault(s), " + std::to_string(verdict.counter("wrong_answers"))
                      + " wrong answer(s) caught, " + std::to_string(verdict.counter("restarts")) + " restart(s), "
                      + std::to_string(verdict.counter("reloads")) + " reload(s), " + std::to_string(verdict.counter("retries"))
                      + " retries" + (verdict.counter("released") > 0 ? ", " + std::to_string(verdict.counter("released"))
                                                                       + " leftover(s) of a call released" : "");
    } else {
        result.outcome = Outcome::NotManifested;
    }
}

bool is_retryable_harness_error(const std::string& what)
{
    return what.starts_with("harness: the VM ended before the workload was ready")
           || what.starts_with("harness: the workload was not ready") || what.starts_with("harness: debugger: ")
           || what.starts_with("harness: injecting: ");
}

RunResult run_injection(const RunConfig& config, const InjectionPoint& point, const std::string& run_name)
{
    RunResult result;
    auto start = Clock::now();
    std::string serial_path = config.work_directory + "/" + run_name + ".console";
    std::string gdb_path = config.work_directory + "/" + run_name + ".gdb";
    ::unlink(serial_path.c_str());
    ::unlink(gdb_path.c_str());
    QemuProcess qemu(config, point.workload, serial_path, gdb_path);
    auto finish = [&](bool injected) {
        result.exit_status = qemu.exit_status();
        result.report = parse_guest_console(read_file(serial_path));
        classify(result, injected);
        result.seconds = seconds_since(start);
        if (!config.keep_consoles.empty()) {
            std::string kept_path = config.keep_consoles + "/" + run_name + ".console";
            keep_console(serial_path, kept_path);
            result.console = kept_path;
        }
        ::unlink(serial_path.c_str());
        ::unlink(gdb_path.c_str());
        return result;
    };
    std::string error;
    if (!qemu.started() || !wait_ready(qemu, config, serial_path, result.report, error)) {
        result.what = "harness: " + error;
        qemu.kill();
        result.exit_status = qemu.exit_status();
        result.seconds = seconds_since(start);
        result.outcome = Outcome::Failed;
        result.vm_died = true;
        return result;
    }
    const GuestSection* trigger_section = find_section(result.report.sections, point.trigger.section);
    if (!trigger_section || point.trigger.offset + point.trigger.length > trigger_section->size) {
        result.what = "harness: the guest has no section " + point.trigger.section + " large enough for the trigger";
        result.outcome = Outcome::Failed;
        return result;
    }
    std::uint64_t trigger = trigger_section->address + point.trigger.offset;
    gdb::RemoteClient debugger;
    if (!debugger.connect(gdb_path, 10s) || !debugger.insert_breakpoint(trigger) || !start_measured_run(debugger, result.report)) {
        result.what = "harness: debugger: " + debugger.error();
        result.outcome = Outcome::Failed;
        return result;
    }
    auto deadline = Clock::now() + config.deadline;
    std::uint32_t hits = 0;
    bool injected = false;
    while (!injected) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto stop = debugger.wait_stop(std::max(left, 0ms));
        if (!stop) {
            if (debugger.closed() || qemu.poll_exit()) {
                qemu.wait_exit(Clock::now() + 5s);
                return finish(false);  // the run ended without reaching the trigger
            }
            result.hang = true;
            qemu.kill();
            return finish(false);
        }
        if (stop->kind != gdb::StopReply::Kind::Stopped) {
            qemu.wait_exit(Clock::now() + 5s);
            return finish(false);
        }
        auto rip = debugger.read_register(gdb::kRegisterRip);
        if (!rip || *rip != trigger) {
            debugger.resume();
            continue;
        }
        if (++hits < point.trigger_hit) {
            // Step over the breakpoint (QEMU would stop at it again), then put it back.
            if (!debugger.remove_breakpoint(trigger) || !debugger.step() || !debugger.insert_breakpoint(trigger) || !debugger.resume()) {
                result.what = "harness: debugger: " + debugger.error();
                qemu.kill();
                return finish(false);
            }
            continue;
        }
        debugger.remove_breakpoint(trigger);
        bool done = false;
        if (point.type == FaultType::Skip) {
            done = debugger.write_register(gdb::kRegisterRip, trigger + point.trigger.length);
            result.injection = "skipped " + std::to_string(point.trigger.length) + "-byte instruction at " + hex(trigger);
        } else {
            std::uint64_t address = 0;
            if (point.region == Region::Stack) {
                auto rsp = debugger.read_register(gdb::kRegisterRsp);
                if (rsp)
                    address = *rsp + point.offset;
            } else if (const GuestSection* section = find_section(result.report.sections, point.section);
                       section && point.offset + 8 <= section->size) {
                address = section->address + point.offset;
            }
            auto before = address ? debugger.read_memory(address, 8) : std::nullopt;
            if (before) {
                std::vector<std::uint8_t> after = *before;
                if (point.type == FaultType::Bit) {
                    after[point.value / 8] ^= static_cast<std::uint8_t>(1u << (point.value % 8));
                } else {
                    for (std::size_t i = 0; i < 8; ++i)
                        after[i] = static_cast<std::uint8_t>(point.value >> (8 * i));
                }
                done = debugger.write_memory(address, after);
                result.injection = std::string(region_name(point.region)) + " word at " + hex(address) + ": "
                                   + gdb::to_hex(*before) + " -> " + gdb::to_hex(after);
            }
        }
        if (!done || !debugger.resume()) {
            result.what = "harness: injecting: " + debugger.error();
            qemu.kill();
            return finish(false);
        }
        injected = true;
    }
    if (!qemu.wait_exit(deadline)) {
        result.hang = true;
        // Where the guest is when the deadline passes says what kind of hang it is: a loop with
        // interrupts masked (IF=0: no tick, no watchdog), or idle (every task waits for ever).
        if (debugger.interrupt()) {
            // The block holds rax..r15 and rip as 8 bytes each, then eflags as 4 (little-endian hex).
            auto block = debugger.request("g");
            auto rip = block ? gdb::register_in_block(*block, gdb::kRegisterRip) : std::nullopt;
            std::size_t flags_at = 17 * 16;
            std::uint32_t flags = 0;
            bool flags_read = block && block->size() >= flags_at + 8;
            for (int byte = 3; flags_read && byte >= 0; --byte) {
                unsigned value = 0;
                const char* first = block->data() + flags_at + 2 * byte;
                auto parsed = std::from_chars(first, first + 2, value, 16);
                flags_read = parsed.ec == std::errc() && parsed.ptr == first + 2;
                flags = (flags << 8) | value;
            }
            if (rip && flags_read) {
                result.injection += "; at the deadline rip=" + hex(*rip) + " IF=" + ((flags & 0x200) ? "1" : "0");
            } else {
                result.injection += "; at the deadline: registers unreadable: " + debugger.error();
            }
        } else {
            result.injection += "; at the deadline: the guest did not stop: " + debugger.error();
        }
        qemu.kill();
    }
    return finish(true);
}

CoverageResult run_coverage(const RunConfig& config, const std::string& workload, const std::vector<Instruction>& instructions,
                            const std::string& run_name)
{
    CoverageResult coverage;
    auto start = Clock::now();
    std::string serial_path = config.work_directory + "/" + run_name + ".console";
    std::string gdb_path = config.work_directory + "/" + run_name + ".gdb";
    ::unlink(serial_path.c_str());
    ::unlink(gdb_path.c_str());
    QemuProcess qemu(config, workload, serial_path, gdb_path);
    GuestReport report;
    if (!qemu.started() || !wait_ready(qemu, config, serial_path, report, coverage.error))
        return coverage;
    coverage.sections = report.sections;
    std::map<std::uint64_t, std::size_t> by_address;  // breakpoint address -> instruction index
    std::vector<std::uint32_t> hits(instructions.size(), 0);
    gdb::RemoteClient debugger;
    if (!debugger.connect(gdb_path, 10s)) {
        coverage.error = "debugger: " + debugger.error();
        return coverage;
    }
    for (std::size_t i = 0; i < instructions.size(); ++i) {
        const GuestSection* section = find_section(report.sections, instructions[i].section);
        if (!section || instructions[i].offset + instructions[i].length > section->size)
            continue;
        std::uint64_t address = section->address + instructions[i].offset;
        if (!debugger.insert_breakpoint(address)) {
            coverage.error = "debugger: " + debugger.error();
            return coverage;
        }
        by_address[address] = i;
    }
    if (!start_measured_run(debugger, report)) {
        coverage.error = "debugger: " + debugger.error();
        return coverage;
    }
    auto deadline = Clock::now() + config.deadline * 4;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto stop = debugger.wait_stop(std::max(left, 0ms));
        if (!stop || stop->kind != gdb::StopReply::Kind::Stopped)
            break;
        ++coverage.stops;
        auto rip = debugger.read_register(gdb::kRegisterRip);
        auto found = rip ? by_address.find(*rip) : by_address.end();
        if (found == by_address.end()) {
            debugger.resume();
            continue;
        }
        std::uint32_t count = ++hits[found->second];
        debugger.remove_breakpoint(found->first);
        if (count < kCoverageHitCap) {
            if (!debugger.step() || !debugger.insert_breakpoint(found->first))
                break;
        } else {
            by_address.erase(found);
        }
        debugger.resume();
    }
    if (!qemu.wait_exit(Clock::now() + 10s)) {
        coverage.error = "the coverage run did not end";
        qemu.kill();
        return coverage;
    }
    coverage.report = parse_guest_console(read_file(serial_path));
    if (!config.keep_consoles.empty())
        keep_console(serial_path, config.keep_consoles + "/" + run_name + ".console");
    ::unlink(serial_path.c_str());
    ::unlink(gdb_path.c_str());
    coverage.seconds = seconds_since(start);
    for (std::size_t i = 0; i < instructions.size(); ++i) {
        if (hits[i] > 0)
            coverage.covered.push_back(CoveredInstruction{instructions[i], hits[i]});
    }
    RunResult check;
    check.report = coverage.report;
    classify(check, false);
    if (check.outcome != Outcome::NotActivated) {
        coverage.error = "the fault-free run is not clean: " + (check.what.empty() ? std::string(outcome_name(check.outcome)) : check.what);
        return coverage;
    }
    if (coverage.covered.empty()) {
        coverage.error = "no instruction of the target ran";
        return coverage;
    }
    coverage.ok = true;
    return coverage;
}

} // namespace delos::fault_campaign
