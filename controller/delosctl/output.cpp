// output.cpp: see output.h.
#include "output.h"

#include "fault_report_text.h"

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

// delosd's heading (its record number, the vm, the pushed object) over the guest's own report.
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
    if (!report.boot_id().empty())
        text += "  guest: fault #" + std::to_string(report.fault_sequence()) + " of boot " +
                controller::printable_guest_text(report.boot_id()) + "\n";
    text += "  object: " + (record.cell_sha256().empty() ? std::string("none delosd loaded (a boot-archive cell, or a push whose load failed: see the build id below)")
                                                         : "sha256 " + record.cell_sha256()) + "\n";
    return text + controller::fault_report_body(report);
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
