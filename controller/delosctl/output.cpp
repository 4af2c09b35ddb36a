// output.cpp: see output.h.
#include "output.h"

#include "symbol_names.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <iterator>
#include <utility>
#include <cstdio>
#include <ctime>

namespace delos::ctl {

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows)
{
    std::vector<std::size_t> widths(header.size());
    for (std::size_t i = 0; i < header.size(); ++i)
        widths[i] = header[i].size();
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size())
                line += std::string(widths[i] - row[i].size() + 2, ' ');
        }
        std::printf("%s\n", line.c_str());
    };
    print_row(header);
    for (const auto& row : rows)
        print_row(row);
}

std::string to_json(const google::protobuf::Message& message)
{
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(message, &json, options);
    return json;
}

std::string format_time(std::int64_t unix_ms)
{
    if (unix_ms <= 0)
        return "-";
    std::time_t seconds = unix_ms / 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

std::string format_bytes(std::uint64_t bytes)
{
    char text[32];
    if (bytes >= (1u << 20))
        std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1u << 20));
    else if (bytes >= 1024)
        std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / 1024);
    else
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    return text;
}

std::string enum_word(const std::string& name, const std::string& prefix)
{
    std::string word = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
    for (char& c : word)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return word.empty() ? "unknown" : word;
}

// Guest strings are data: at most 200 bytes, control characters as '?'.
static std::string printable(const std::string& text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < 200; ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    }
    return text.size() > 200 ? out + "..." : out;
}

std::string crash_report(const v1::FaultRecord& record)
{
    const v1::FaultReport& report = record.report();
    char line[512];
    std::string text;
    std::snprintf(line, sizeof line, "=== fault %llu on vm %s (boot %llu, guest event %llu) at %s ===\n",
                  static_cast<unsigned long long>(record.sequence()), record.vm().c_str(),
                  static_cast<unsigned long long>(record.boot_id()),
                  static_cast<unsigned long long>(record.guest_sequence()), format_time(record.received_unix_ms()).c_str());
    text += line;
    std::snprintf(line, sizeof line, "%s in cell %s@%s (generation %u, fault #%u of this cell)\n",
                  enum_word(v1::FaultKind_Name(report.kind()), "FAULT_KIND_").c_str(), report.cell_name().c_str(),
                  report.cell_version().c_str(), report.cell_generation(), report.fault_count());
    text += line;
    text += "  build: " + (record.cell_sha256().empty() ? std::string("boot archive (not pushed through delosd)")
                                                        : "sha256 " + record.cell_sha256());
    if (!report.cell_build_id().empty())
        text += ", build id " + printable(report.cell_build_id());
    text += "\n";
    if (!report.boot_id().empty()) {
        std::snprintf(line, sizeof line, "  guest: boot %s, fault #%llu of that boot\n", printable(report.boot_id()).c_str(),
                      static_cast<unsigned long long>(report.fault_sequence()));
        text += line;
    }
    if (!report.message().empty())
        text += "  " + report.message() + "\n";
    std::snprintf(line, sizeof line, "  task %llu '%s'  rip 0x%llx  addr 0x%llx  vector %u  error 0x%llx\n",
                  static_cast<unsigned long long>(report.task_id()), report.task_name().c_str(),
                  static_cast<unsigned long long>(report.instruction_pointer()),
                  static_cast<unsigned long long>(report.address()), report.vector(),
                  static_cast<unsigned long long>(report.error_code()));
    text += line;
    std::snprintf(line, sizeof line, "  at %s+0x%llx", report.symbol().empty() ? "??" : printable(controller::demangled_symbol(report.symbol())).c_str(),
                  static_cast<unsigned long long>(report.symbol_offset()));
    text += line;
    if (!report.section().empty()) {
        std::snprintf(line, sizeof line, " (section %s+0x%llx)", printable(report.section()).c_str(),
                      static_cast<unsigned long long>(report.section_offset()));
        text += line;
    }
    text += "\n";
    if (report.has_registers()) {
        const v1::FaultRegisters& r = report.registers();
        const std::pair<const char*, std::uint64_t> registers[] = {
            {"rax", r.rax()}, {"rbx", r.rbx()}, {"rcx", r.rcx()}, {"rdx", r.rdx()}, {"rsi", r.rsi()}, {"rdi", r.rdi()},
            {"rbp", r.rbp()}, {"rsp", r.rsp()}, {"r8", r.r8()},   {"r9", r.r9()},   {"r10", r.r10()}, {"r11", r.r11()},
            {"r12", r.r12()}, {"r13", r.r13()}, {"r14", r.r14()}, {"r15", r.r15()}, {"rip", r.rip()}, {"rflags", r.rflags()}};
        for (std::size_t i = 0; i < std::size(registers); ++i) {
            std::snprintf(line, sizeof line, "%s%-6s %016llx", i % 4 == 0 ? "  " : "  ", registers[i].first,
                          static_cast<unsigned long long>(registers[i].second));
            text += line;
            if (i % 4 == 3 || i + 1 == std::size(registers))
                text += "\n";
        }
    }
    int frame = 0;
    for (const v1::BacktraceFrame& entry : report.backtrace()) {
        std::snprintf(line, sizeof line, "  #%-2d 0x%016llx %s+0x%llx%s%s\n", frame++,
                      static_cast<unsigned long long>(entry.address()),
                      entry.symbol().empty() ? "??" : printable(controller::demangled_symbol(entry.symbol())).c_str(),
                      static_cast<unsigned long long>(entry.offset()), entry.cell().empty() ? "" : " in ",
                      entry.cell().c_str());
        text += line;
    }
    text += "  recovery: " + enum_word(v1::RecoveryAction_Name(report.action()), "RECOVERY_ACTION_") + "\n";
    return text;
}

ProgressBar::ProgressBar(std::string label, std::uint64_t total, bool enabled)
    : m_label(std::move(label)), m_total(total), m_enabled(enabled)
{
}

void ProgressBar::update(std::uint64_t done)
{
    if (!m_enabled || m_total == 0)
        return;
    int percent = static_cast<int>(done * 100 / m_total);
    if (percent == m_last_percent)
        return;
    m_last_percent = percent;
    int filled = percent * 30 / 100;
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %s / %s", m_label.c_str(), std::string(filled, '#').c_str(),
                 std::string(30 - filled, ' ').c_str(), percent, format_bytes(done).c_str(), format_bytes(m_total).c_str());
    std::fflush(stderr);
}

void ProgressBar::finish(const std::string& outcome)
{
    if (!m_enabled)
        return;
    std::fprintf(stderr, "\r%s [%s] %s\n", m_label.c_str(), std::string(30, '#').c_str(), outcome.c_str());
}

} // namespace delos::ctl
