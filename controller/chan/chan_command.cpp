// chan_command.cpp: argument parsing, the commands, and how their results and the guest's
// events are printed (text for people, one JSON object per line with --json for scripts).
#include "chan_command.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>

#include "abi/channel_limits.h"
#include "cell_push.h"
#include "channel_client.h"
#include "fault_report_text.h"
#include "symbol_names.h"

namespace delos::chan {

namespace {

using Clock = std::chrono::steady_clock;

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A guest error in one step of a command that takes several (push --load: the load), so the
// message names the step that failed, not the command.
class StepFailed : public GuestError {
public:
    StepFailed(const GuestError& error, std::string step) : GuestError(error), m_step(std::move(step)) {}
    const std::string& step() const { return m_step; }

private:
    std::string m_step;
};

struct Options {
    std::string socket;
    bool json = false;
    std::chrono::milliseconds timeout{10000};
    std::optional<bool> progress;  // unset: on for big pushes when interactive
    std::string command;
    std::vector<std::string> positional;
    std::uint64_t count = 0;       // ping, watch
    std::string name;              // push
    std::uint32_t chunk_bytes = channel::kDefaultChunkBytes;
    std::uint32_t window = 8;      // push: chunks in flight
    bool load_after_push = false;
    bool swap_after_push = false;
};

std::uint64_t parse_number(const std::string& flag, const std::string& text)
{
    try {
        std::size_t used = 0;
        unsigned long long value = std::stoull(text, &used, 0);
        if (used == text.size() && text[0] != '-')
            return value;
    } catch (const std::exception&) {
    }
    throw UsageError(flag + " needs a number, not '" + text + "'");
}

Options parse_arguments(const std::vector<std::string>& arguments)
{
    Options options;
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        const std::string& argument = arguments[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= arguments.size())
                throw UsageError(argument + " needs a value");
            return arguments[++i];
        };
        if (argument == "--socket")
            options.socket = value();
        else if (argument == "--json")
            options.json = true;
        else if (argument == "--timeout")
            options.timeout = std::chrono::milliseconds(parse_number(argument, value()) * 1000);
        else if (argument == "--progress")
            options.progress = true;
        else if (argument == "--no-progress")
            options.progress = false;
        else if (argument == "--count")
            options.count = parse_number(argument, value());
        else if (argument == "--name")
            options.name = value();
        else if (argument == "--chunk-size")
            options.chunk_bytes = static_cast<std::uint32_t>(
                std::min<std::uint64_t>(parse_number(argument, value()), channel::kMaxChunkBytes));
        else if (argument == "--window")
            options.window = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, parse_number(argument, value())));
        else if (argument == "--load")
            options.load_after_push = true;
        else if (argument == "--swap")
            options.swap_after_push = true;
        else if (argument == "--help" || argument == "-h")
            throw UsageError("");
        else if (argument.size() > 1 && argument[0] == '-')
            throw UsageError("unknown option " + argument);
        else if (options.command.empty())
            options.command = argument;
        else
            options.positional.push_back(argument);
    }
    if (options.command.empty())
        throw UsageError("no command given");
    static const char* const commands[] = {"hello", "ping", "list", "push", "load", "unload", "stats", "watch", "swap", "rollback",
                                           "policy", "faults"};
    if (std::find(std::begin(commands), std::end(commands), options.command) == std::end(commands))
        throw UsageError("unknown command '" + options.command + "'");
    if (options.socket.empty())
        throw UsageError("--socket PATH is required");
    if (options.chunk_bytes == 0)
        throw UsageError("--chunk-size must be at least 1");
    if (options.load_after_push && options.swap_after_push)
        throw UsageError("--load and --swap exclude each other");
    return options;
}

std::string hex(const std::string& bytes)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char byte : bytes) {
        out += digits[byte >> 4];
        out += digits[byte & 15];
    }
    return out;
}

std::string json_of(const google::protobuf::Message& message)
{
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok())
        return "{}";
    return json;
}

std::string lower_enum_word(const std::string& name, const std::string& prefix)
{
    std::string word = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
    for (char& c : word)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return word.empty() ? "unspecified" : word;
}

std::string enum_word(const google::protobuf::EnumDescriptor* descriptor, int value, const std::string& prefix)
{
    const auto* known = descriptor->FindValueByNumber(value);
    return known ? lower_enum_word(known->name(), prefix) : "unknown-" + std::to_string(value);
}

std::string hex_number(std::uint64_t value)
{
    std::ostringstream out;
    out << "0x" << std::hex << value;
    return out.str();
}

std::string symbol_and_offset(const std::string& symbol, std::uint64_t offset)
{
    return symbol.empty() ? "?" : controller::short_symbol(symbol) + "+" + hex_number(offset);
}

std::string microseconds(std::uint64_t nanoseconds)
{
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << nanoseconds / 1e3 << " us";
    return out.str();
}

std::string describe_swap(const v1::CellSwapped& swapped)
{
    std::ostringstream out;
    out << (swapped.rollback() ? "rolled back" : "swapped");
    for (int i = 0; i < swapped.cells_size(); ++i) {
        const auto& cell = swapped.cells(i);
        out << (i ? ";" : "") << " " << cell.name() << " " << cell.old_version() << " (generation " << cell.old_generation()
            << ") -> " << cell.new_version() << " (generation " << cell.new_generation() << ")";
        if (!cell.state_layout().empty())
            out << ", state as " << cell.state_layout();
    }
    const auto& timing = swapped.timing();
    out << " in " << microseconds(timing.total_ns()) << " (load " << microseconds(timing.load_ns()) << ", link "
        << microseconds(timing.link_ns()) << ", verify " << microseconds(timing.verify_ns()) << ", transfer "
        << microseconds(timing.transfer_ns()) << ", re-point " << microseconds(timing.repoint_ns()) << ", cleanup "
        << microseconds(timing.cleanup_ns()) << "), " << swapped.relocations_repointed() << " relocations re-pointed";
    if (swapped.retiring_cells() > 0)
        out << ", " << swapped.retiring_cells() << " old version(s) retiring";
    if (swapped.also_loaded_size() > 0) {
        out << "; also loaded:";
        for (const auto& other : swapped.also_loaded())
            out << " " << other;
    }
    return out.str();
}

std::string describe_event(const v1::Event& event)
{
    std::ostringstream out;
    switch (event.kind_case()) {
    case v1::Event::kReady: {
        const auto& ready = event.ready();
        out << "ready: kernel " << ready.kernel_version() << ", " << ready.cells_loaded() << " cells loaded, booted in "
            << std::fixed << std::setprecision(1) << ready.boot_ns() / 1e6 << " ms, protocol " << ready.min_version()
            << ".." << ready.max_version();
        break;
    }
    case v1::Event::kLogLine: {
        const auto& log = event.log_line();
        out << "log [" << enum_word(v1::LogLevel_descriptor(), log.level(), "LOG_LEVEL_") << "] "
            << (log.cell().empty() ? "kernel" : log.cell()) << ": " << log.text();
        break;
    }
    case v1::Event::kFaultReport: {
        const auto& fault = event.fault_report();
        out << "fault: " << enum_word(v1::FaultKind_descriptor(), fault.kind(), "FAULT_KIND_") << " in cell "
            << (fault.cell_name().empty() ? "kernel" : fault.cell_name());
        if (!fault.cell_version().empty())
            out << " " << fault.cell_version();
        out << " at " << symbol_and_offset(fault.symbol(), fault.symbol_offset()) << " (task " << fault.task_id();
        if (!fault.task_name().empty())
            out << " " << fault.task_name();
        out << ", address " << hex_number(fault.address()) << ", ip " << hex_number(fault.instruction_pointer())
            << "), action " << enum_word(v1::RecoveryAction_descriptor(), fault.action(), "RECOVERY_ACTION_");
        if (!fault.message().empty())
            out << ": " << fault.message();
        for (int i = 0; i < fault.backtrace_size(); ++i) {
            const auto& frame = fault.backtrace(i);
            out << "\n  #" << i << " " << hex_number(frame.address()) << " "
                << symbol_and_offset(frame.symbol(), frame.offset());
            if (!frame.cell().empty())
                out << " (" << frame.cell() << ")";
        }
        break;
    }
    case v1::Event::kCellSwapped:
        out << describe_swap(event.cell_swapped());
        break;
    case v1::Event::KIND_NOT_SET:
        out << "event " << event.sequence() << " of a kind this tool does not know";
        break;
    }
    return out.str();
}

std::string mib(std::uint64_t bytes)
{
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << bytes / (1024.0 * 1024.0) << " MiB";
    return out.str();
}

// One run of the tool: the connection, how to print, and the commands.
class Session {
public:
    Session(const Options& options, std::ostream& out, std::ostream& err, bool interactive)
        : m_options(options), m_out(out), m_err(err), m_interactive(interactive),
          m_client(options.socket, options.timeout)
    {
        // Events that arrive while a command waits for its reply are printed, not dropped:
        // to stdout for watch and --json, to stderr otherwise (stdout is the command's output).
        m_client.set_event_handler([this](const v1::Event& event) { print_event(event); });
    }

    int run()
    {
        char host[256] = "host";
        ::gethostname(host, sizeof host - 1);
        m_client.hello(std::string("delos-chan@") + host);

        const std::string& command = m_options.command;
        if (command == "hello")
            return hello();
        if (command == "ping")
            return ping();
        if (command == "list")
            return list();
        if (command == "push")
            return push();
        if (command == "load")
            return load();
        if (command == "unload")
            return unload();
        if (command == "stats")
            return stats();
        if (command == "swap")
            return swap();
        if (command == "rollback")
            return rollback();
        if (command == "faults")
            return faults();
        if (command == "policy")
            return policy();
        return watch();
    }

private:
    void expect_positional(std::size_t count, const char* what)
    {
        if (m_options.positional.size() != count)
            throw UsageError(m_options.command + " takes " + what);
    }

    void print_reply(const v1::Reply& reply)
    {
        v1::GuestMessage message;
        *message.mutable_reply() = reply;
        m_out << json_of(message) << "\n";
    }

    void print_event(const v1::Event& event)
    {
        ++m_events_seen;
        if (m_last_sequence && event.sequence() > *m_last_sequence + 1) {
            std::uint64_t missed = event.sequence() - *m_last_sequence - 1;
            m_err << "warning: " << missed << " guest event" << (missed == 1 ? "" : "s") << " missed\n";
        }
        m_last_sequence = event.sequence();
        bool watching = m_options.command == "watch";
        if (m_options.json) {
            v1::GuestMessage message;
            *message.mutable_event() = event;
            m_out << json_of(message) << std::endl;
        } else if (watching) {
            m_out << describe_event(event) << std::endl;
        } else if (!event.has_ready()) {
            // The Ready that greets every connection says nothing a one-shot command needs.
            m_err << "event: " << describe_event(event) << std::endl;
        }
    }

    int hello()
    {
        expect_positional(0, "no arguments");
        const v1::HelloReply& session = m_client.session();
        if (m_options.json) {
            v1::Reply reply;
            *reply.mutable_hello() = session;
            print_reply(reply);
        } else {
            m_out << "protocol " << session.version() << ", kernel " << session.kernel_version() << ", frames up to "
                  << session.max_frame_bytes() << " bytes, chunks up to " << session.max_chunk_bytes() << " bytes\n";
        }
        return kExitOk;
    }

    int ping()
    {
        expect_positional(0, "no arguments (use --count N)");
        std::uint64_t count = m_options.count ? m_options.count : 1;
        std::vector<double> microseconds;
        microseconds.reserve(count);
        for (std::uint64_t i = 0; i < count; ++i) {
            v1::HostMessage message;
            message.mutable_ping();
            auto start = Clock::now();
            m_client.call(std::move(message));
            microseconds.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        }
        std::vector<double> sorted = microseconds;
        std::sort(sorted.begin(), sorted.end());
        auto at = [&](double fraction) { return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(fraction * sorted.size()))]; };
        double median = sorted[sorted.size() / 2];
        if (m_options.json) {
            m_out << std::fixed << std::setprecision(1) << "{\"ping\":{\"count\":" << count << ",\"min_us\":" << sorted.front()
                  << ",\"median_us\":" << median << ",\"p99_us\":" << at(0.99) << ",\"max_us\":" << sorted.back() << "}}\n";
        } else if (count == 1) {
            m_out << std::fixed << std::setprecision(1) << "pong in " << median << " us\n";
        } else {
            m_out << std::fixed << std::setprecision(1) << "ping: " << count << " round trips, min " << sorted.front()
                  << " us, median " << median << " us, p99 " << at(0.99) << " us, max " << sorted.back() << " us\n";
        }
        return kExitOk;
    }

    // The guest's ring of recent contained faults, oldest first, as crash reports.
    int faults()
    {
        expect_positional(0, "no arguments");
        v1::HostMessage message;
        message.mutable_list_faults();
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json) {
            print_reply(reply);
            return kExitOk;
        }
        const auto& listed = reply.list_faults();
        m_out << "boot " << (listed.boot_id().empty() ? "-" : listed.boot_id()) << ": " << listed.faults_recorded()
              << " fault(s) recorded, the newest " << listed.faults_size() << " kept\n";
        for (const auto& report : listed.faults())
            m_out << "\n" << controller::fault_report_text(report);
        return kExitOk;
    }

    int list()
    {
        expect_positional(0, "no arguments");
        v1::HostMessage message;
        message.mutable_list_cells();
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json) {
            print_reply(reply);
            return kExitOk;
        }
        m_out << std::left << std::setw(20) << "NAME" << std::setw(12) << "VERSION" << std::setw(5) << "GEN" << std::setw(10)
              << "STATE" << std::right << std::setw(9) << "SECTIONS" << std::setw(10) << "TEXT" << std::setw(10) << "RODATA"
              << std::setw(10) << "DATA" << std::setw(10) << "BSS" << std::setw(7) << "TASKS" << "  " << std::left
              << std::setw(14) << "BUILD" << "DEPENDENCIES\n";
        for (const auto& cell : reply.list_cells().cells()) {
            std::string dependencies;
            for (const auto& dependency : cell.dependencies())
                dependencies += (dependencies.empty() ? "" : ",") + dependency;
            m_out << std::left << std::setw(20) << cell.name() << std::setw(12)
                  << (cell.version().empty() ? "-" : cell.version()) << std::setw(5) << cell.generation() << std::setw(10)
                  << enum_word(v1::CellState_descriptor(), cell.state(), "CELL_STATE_") << std::right << std::setw(9)
                  << cell.section_count() << std::setw(10) << cell.text_bytes() << std::setw(10) << cell.rodata_bytes()
                  << std::setw(10) << cell.data_bytes() << std::setw(10) << cell.bss_bytes() << std::setw(7)
                  << cell.task_count() << "  " << std::left << std::setw(14)
                  << (cell.build_id().empty() ? std::string("-") : cell.build_id().substr(0, 12))
                  << (dependencies.empty() ? "-" : dependencies) << "\n";
        }
        print_recovery(reply.list_cells());
        return kExitOk;
    }

    // Fault recovery's policy and record of each loaded cell (docs/fault-recovery.md).
    void print_recovery(const v1::ListCellsReply& cells)
    {
        bool header = false;
        for (const auto& cell : cells.cells()) {
            if (!cell.has_recovery_policy())
                continue;  // staged or retiring: no policy applies
            if (!header) {
                m_out << "\n" << std::left << std::setw(20) << "RECOVERY" << std::right << std::setw(7) << "FAULTS" << std::setw(9)
                      << "RESTARTS" << std::setw(8) << "RELOADS" << std::setw(10) << "ROLLBACKS"
                      << "  POLICY (window, reload after, max reloads, rollback window, max restarts)\n";
                header = true;
            }
            const auto& policy = cell.recovery_policy();
            const auto& record = cell.recovery();
            m_out << std::left << std::setw(20) << cell.name() << std::right << std::setw(7) << record.faults() << std::setw(9)
                  << record.task_restarts() << std::setw(8) << record.reloads() << std::setw(10) << record.rollbacks() << "  "
                  << policy.window_ms() << " ms, " << policy.reload_after_faults() << " faults, " << policy.max_reloads()
                  << " reloads, " << policy.rollback_window_ms() << " ms, " << policy.max_restarts() << " restarts"
                  << (policy.custom() ? " (set)" : " (default)") << (record.quarantined() ? "  QUARANTINED" : "") << "\n";
        }
    }

    void show_progress(const std::string& name, std::uint64_t done, std::uint64_t total)
    {
        m_err << "\rpush " << name << ": " << std::setw(3) << (total ? done * 100 / total : 100) << "% (" << mib(done)
              << " of " << mib(total) << ")" << (done == total ? "\n" : "") << std::flush;
    }

    int push()
    {
        expect_positional(1, "one FILE");
        const std::string& path = m_options.positional[0];
        std::ifstream file(path, std::ios::binary);
        if (!file)
            throw UsageError("cannot read " + path);
        std::string object((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        std::string name = m_options.name;
        if (name.empty()) {
            name = path.substr(path.find_last_of('/') + 1);
            if (name.size() > 2 && name.compare(name.size() - 2, 2, ".o") == 0)
                name.resize(name.size() - 2);
        }
        bool progress = m_options.progress.value_or(m_interactive && object.size() >= (1u << 20));
        PushSettings settings;
        settings.chunk_bytes = m_options.chunk_bytes;
        settings.window = m_options.window;
        if (progress)
            settings.progress = [&](std::uint64_t done, std::uint64_t total) { show_progress(name, done, total); };
        std::optional<PushSwapResult> pipelined;
        if (m_options.swap_after_push) {
            // Push and swap as one pipelined exchange (protocol 2; push then swap otherwise).
            v1::SwapCellsRequest swap;
            swap.add_pairs()->set_old_cell(name);
            pipelined = push_and_swap_cell(m_client, name, object, settings, swap);
        }
        PushResult pushed = pipelined ? pipelined->push : push_cell(m_client, name, object, settings);
        double rate = object.size() / (1024.0 * 1024.0) / std::max(pushed.seconds, 1e-9);

        if (m_options.json) {
            m_out << std::fixed << std::setprecision(3) << "{\"push\":{\"name\":\"" << name << "\",\"bytes\":" << object.size()
                  << ",\"sha256\":\"" << hex(pushed.sha256) << "\",\"seconds\":" << pushed.seconds << ",\"mib_per_second\":" << rate
                  << ",\"cell\":" << json_of(pushed.committed.cell()) << "}}\n";
        } else {
            m_out << "pushed " << name << ": " << object.size() << " bytes, sha256 " << hex(pushed.sha256) << ", in " << std::fixed
                  << std::setprecision(1) << pushed.seconds * 1000 << " ms (" << rate << " MiB/s)\n";
        }
        if (m_options.load_after_push)
            return load_cell(name);
        if (pipelined) {
            v1::Reply reply;
            *reply.mutable_swap_cells() = pipelined->swapped;
            if (m_options.json)
                print_reply(reply);
            else
                m_out << describe_swap(reply.swap_cells().swapped()) << "\n";
        }
        return kExitOk;
    }

    // Each NAME replaces the loaded cell of that name by the cell staged (pushed) under it; a
    // NAME of the form CELL=OBJECT names the new object (a staged cell or a boot-archive
    // version such as kv.v2) explicitly.
    int swap()
    {
        if (m_options.positional.empty())
            throw UsageError("swap takes one or more cell NAMEs (or CELL=OBJECT)");
        return swap_cells(m_options.positional);
    }

    int swap_cells(const std::vector<std::string>& names)
    {
        v1::HostMessage message;
        for (const std::string& name : names) {
            auto* pair = message.mutable_swap_cells()->add_pairs();
            std::size_t equals = name.find('=');
            pair->set_old_cell(name.substr(0, equals));
            if (equals != std::string::npos)
                pair->set_new_object(name.substr(equals + 1));
        }
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json)
            print_reply(reply);
        else
            m_out << describe_swap(reply.swap_cells().swapped()) << "\n";
        return kExitOk;
    }

    int rollback()
    {
        expect_positional(1, "one cell NAME");
        v1::HostMessage message;
        message.mutable_rollback_cell()->set_name(m_options.positional[0]);
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json)
            print_reply(reply);
        else
            m_out << describe_swap(reply.rollback_cell().swapped()) << "\n";
        return kExitOk;
    }

    int load()
    {
        expect_positional(1, "one cell NAME");
        return load_cell(m_options.positional[0]);
    }

    int load_cell(const std::string& name)
    {
        v1::HostMessage message;
        message.mutable_load_cell()->set_name(name);
        v1::Reply reply;
        try {
            reply = m_client.call(std::move(message));
        } catch (const GuestError& error) {
            throw StepFailed(error, "load");
        }
        if (m_options.json) {
            print_reply(reply);
            return kExitOk;
        }
        const auto& cell = reply.load_cell().cell();
        m_out << "loaded " << cell.name() << " " << cell.version() << " (generation " << cell.generation() << ")";
        if (reply.load_cell().also_loaded_size() > 0) {
            m_out << "; also loaded:";
            for (const auto& other : reply.load_cell().also_loaded())
                m_out << " " << other;
        }
        m_out << "\n";
        return kExitOk;
    }

    int unload()
    {
        expect_positional(1, "one cell NAME");
        v1::HostMessage message;
        message.mutable_unload_cell()->set_name(m_options.positional[0]);
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json)
            print_reply(reply);
        else
            m_out << "unloaded " << m_options.positional[0] << "\n";
        return kExitOk;
    }

    // policy NAME|- [key=value ...]: fault recovery's policy for a cell (-: the guest's
    // default); keys not given take the built-in defaults.
    int policy()
    {
        if (m_options.positional.empty())
            throw UsageError("policy takes a cell name (or - for the default) and key=value settings");
        v1::HostMessage message;
        auto* request = message.mutable_set_recovery_policy();
        request->set_cell(m_options.positional[0] == "-" ? std::string() : m_options.positional[0]);
        auto* policy = request->mutable_policy();
        policy->set_window_ms(1000);
        policy->set_reload_after_faults(2);
        policy->set_max_reloads(3);
        policy->set_rollback_window_ms(10000);
        policy->set_max_restarts(8);
        for (std::size_t i = 1; i < m_options.positional.size(); ++i) {
            const std::string& setting = m_options.positional[i];
            auto equals = setting.find('=');
            std::string key = setting.substr(0, equals);
            if (equals == std::string::npos)
                throw UsageError("policy settings are key=value, not '" + setting + "'");
            std::uint64_t value = parse_number(key, setting.substr(equals + 1));
            if (key == "window_ms")
                policy->set_window_ms(value);
            else if (key == "reload_after_faults")
                policy->set_reload_after_faults(static_cast<std::uint32_t>(std::min<std::uint64_t>(value, UINT32_MAX)));
            else if (key == "max_reloads")
                policy->set_max_reloads(static_cast<std::uint32_t>(std::min<std::uint64_t>(value, UINT32_MAX)));
            else if (key == "rollback_window_ms")
                policy->set_rollback_window_ms(value);
            else if (key == "max_restarts")
                policy->set_max_restarts(static_cast<std::uint32_t>(std::min<std::uint64_t>(value, UINT32_MAX)));
            else
                throw UsageError("unknown policy setting '" + key +
                                 "' (window_ms, reload_after_faults, max_reloads, rollback_window_ms, max_restarts)");
        }
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json) {
            print_reply(reply);
            return kExitOk;
        }
        const auto& set = reply.set_recovery_policy();
        const auto& held = set.policy();
        m_out << "recovery policy of " << (set.cell().empty() ? std::string("the default") : "cell " + set.cell()) << ": window "
              << held.window_ms() << " ms, reload after " << held.reload_after_faults() << " faults, quarantine after "
              << held.max_reloads() << " reloads, rollback within " << held.rollback_window_ms() << " ms of a swap, "
              << held.max_restarts() << " restarts per window\n";
        return kExitOk;
    }

    int stats()
    {
        expect_positional(0, "no arguments");
        v1::HostMessage message;
        message.mutable_stats();
        v1::Reply reply = m_client.call(std::move(message));
        if (m_options.json) {
            print_reply(reply);
            return kExitOk;
        }
        const auto& stats = reply.stats();
        m_out << "memory  " << mib(stats.memory_total_bytes()) << " total, " << mib(stats.memory_free_bytes()) << " free\n"
              << "frames  " << stats.frames_total() << " total, " << stats.frames_free() << " free, "
              << stats.stack_cache_frames() << " in cached task stacks\n"
              << "heap    " << mib(stats.heap_used_bytes()) << " used of " << mib(stats.heap_capacity_bytes()) << "\n"
              << "paging  " << stats.page_table_frames() << " table frames; since boot " << stats.page_table_leaf_writes()
              << " 4 KiB entries and " << stats.page_table_structure_writes() << " upper entries written, "
              << stats.tlb_page_invalidations() << " invlpg, " << stats.tlb_full_flushes() << " CR3 reloads\n"
              << "tasks   " << stats.task_count() << "\n"
              << "cells   " << stats.cell_count() << "\n"
              << "uptime  " << std::fixed << std::setprecision(3) << stats.uptime_ns() / 1e9 << " s\n";
        // The tasks of each cell (the kernel's first), as the guest grouped them.
        for (const auto& group : stats.tasks_by_cell()) {
            std::string names;
            for (const auto& name : group.task_names())
                names += (names.empty() ? "" : ", ") + name;
            if (static_cast<std::uint32_t>(group.task_names_size()) < group.task_count())
                names += ", ...";
            m_out << "  " << std::left << std::setw(20) << (group.cell_id() == 0 ? std::string("(kernel)") : group.cell())
                  << std::right << std::setw(4) << group.task_count() << "  " << names << "\n";
        }
        return kExitOk;
    }

    int watch()
    {
        expect_positional(0, "no arguments (use --count N)");
        // Events may already have come in while hello waited for its reply; they count.
        while (m_options.count == 0 || m_events_seen < m_options.count) {
            std::optional<v1::GuestMessage> message = m_client.receive(std::nullopt);
            if (message && message->has_event())
                print_event(message->event());
        }
        return kExitOk;
    }

    const Options& m_options;
    std::ostream& m_out;
    std::ostream& m_err;
    bool m_interactive;
    ChannelClient m_client;
    std::optional<std::uint64_t> m_last_sequence;
    std::uint64_t m_events_seen = 0;
};

} // namespace

std::string chan_usage()
{
    return "usage: delos-chan --socket PATH [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
           "commands:\n"
           "  hello                       negotiate the protocol, print the guest's version and limits\n"
           "  ping [--count N]            no-op round trips; prints latency\n"
           "  list                        cells the guest holds (staged, loaded, retiring, faulted), and each\n"
           "                              loaded cell's fault recovery policy and record\n"
           "  push FILE [--name NAME] [--chunk-size BYTES] [--window N] [--load|--swap] [--progress|--no-progress]\n"
           "                              send a cell object (ELF ET_REL), verified by SHA-256; --swap replaces\n"
           "                              the loaded cell of the same name with it (live evolution)\n"
           "  load NAME                   load a pushed or boot-archive cell and what it depends on\n"
           "  unload NAME                 unload a cell\n"
           "  swap NAME|CELL=OBJECT...    replace loaded cells by pushed objects (or boot-archive versions such as\n"
           "                              kv=kv.v2), all or nothing; prints generations and per-stage timing\n"
           "  rollback NAME               swap a cell back to the generation it replaced\n"
           "  faults                      the guest's recent contained faults (its ring), as crash reports\n"
           "  policy NAME|- [KEY=VALUE]...  set fault recovery's policy of a cell (- : the guest's default);\n"
           "                              keys window_ms, reload_after_faults, max_reloads, rollback_window_ms,\n"
           "                              max_restarts; keys not given take the built-in defaults\n"
           "  stats                       memory, heap, tasks, cells, uptime\n"
           "  watch [--count N]           print guest events (ready, log lines, fault reports, swaps) as they come\n"
           "exit status: 0 ok, 1 the guest answered with an error, 2 connection or protocol failure, 64 usage\n";
}

int run_chan(const std::vector<std::string>& arguments, std::ostream& out, std::ostream& err, bool interactive)
{
    Options options;
    try {
        options = parse_arguments(arguments);
    } catch (const UsageError& error) {
        if (error.what()[0] != '\0')
            err << "delos-chan: " << error.what() << "\n";
        err << chan_usage();
        return kExitUsage;
    }
    try {
        Session session(options, out, err, interactive);
        return session.run();
    } catch (const UsageError& error) {
        err << "delos-chan: " << error.what() << "\n";
        return kExitUsage;
    } catch (const GuestError& error) {
        if (options.json)
            out << "{\"error\":" << json_of(error.status()) << "}\n";
        const auto* step = dynamic_cast<const StepFailed*>(&error);
        err << "delos-chan: " << (step ? step->step() : options.command) << " failed: "
            << controller::demangle_names_in(error.what()) << "\n";
        return kExitGuestError;
    } catch (const ConnectionError& error) {
        err << "delos-chan: " << error.what() << "\n";
        return kExitConnection;
    }
}

} // namespace delos::chan
