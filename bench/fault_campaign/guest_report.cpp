// guest_report.cpp: parsing the campaign guest's console and objdump listings.
#include "guest_report.h"

#include <cstdio>
#include <sys/wait.h>

namespace delos::fault_campaign {

namespace {

std::vector<std::string_view> split_lines(std::string_view text)
{
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        lines.push_back(line);
        start = end + 1;
    }
    return lines;
}

std::vector<std::string_view> split_words(std::string_view line)
{
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        if (i > start)
            words.push_back(line.substr(start, i - start));
    }
    return words;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text)
{
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    if (text.empty() || text.size() > (base == 16 ? 16u : 20u))
        return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        int digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            return std::nullopt;
        if (value > (UINT64_MAX - static_cast<std::uint64_t>(digit)) / static_cast<std::uint64_t>(base))
            return std::nullopt;
        value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(digit);
    }
    return value;
}

std::optional<std::int64_t> parse_signed(std::string_view text)
{
    bool negative = !text.empty() && text[0] == '-';
    if (negative)
        text.remove_prefix(1);
    auto magnitude = parse_unsigned(text);
    if (!magnitude || *magnitude > static_cast<std::uint64_t>(INT64_MAX))
        return std::nullopt;
    return negative ? -static_cast<std::int64_t>(*magnitude) : static_cast<std::int64_t>(*magnitude);
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

} // namespace

std::optional<Verdict> parse_verdict_line(std::string_view line)
{
    constexpr std::string_view kPrefix = "fc: verdict=";
    std::size_t at = line.find(kPrefix);
    if (at == std::string_view::npos)
        return std::nullopt;
    line.remove_prefix(at + 4);
    Verdict verdict;
    std::size_t problem = line.find("problem=\"");
    if (problem != std::string_view::npos) {
        std::string_view rest = line.substr(problem + 9);
        std::size_t end = rest.rfind('"');
        verdict.problem = std::string(rest.substr(0, end == std::string_view::npos ? rest.size() : end));
        line = line.substr(0, problem);
    }
    for (std::string_view word : split_words(line)) {
        std::size_t equals = word.find('=');
        if (equals == std::string_view::npos || equals == 0)
            continue;
        std::string key(word.substr(0, equals));
        std::string_view value = word.substr(equals + 1);
        if (key == "verdict")
            verdict.verdict = std::string(value);
        else if (key == "workload")
            verdict.workload = std::string(value);
        else if (auto number = parse_signed(value))
            verdict.counters[key] = *number;
    }
    if (verdict.verdict != "correct" && verdict.verdict != "wrong" && verdict.verdict != "incomplete")
        return std::nullopt;
    return verdict;
}

GuestReport parse_guest_console(std::string_view console)
{
    GuestReport report;
    for (std::string_view line : split_lines(console)) {
        if (line.starts_with("fc: section ")) {
            auto words = split_words(line);
            if (words.size() != 6)
                continue;
            auto address = parse_unsigned(words[3]);
            auto size = parse_unsigned(words[4]);
            if (!address || !size)
                continue;
            report.sections.push_back(GuestSection{std::string(words[2]), *address, *size, std::string(words[5])});
        } else if (line.starts_with("fc: ready ")) {
            for (std::string_view word : split_words(line)) {
                if (word.starts_with("go=")) {
                    if (auto address = parse_unsigned(word.substr(3))) {
                        report.ready = true;
                        report.go_address = *address;
                    }
                }
            }
        } else if (line.starts_with("fc: verdict=")) {
            report.verdict = parse_verdict_line(line);
        }
        if (line.starts_with("delos: FAULT #") && report.ready)
            ++report.contained_faults;  // after the ready line: the warm-up's fault on purpose is not counted
        if (contains(line, "not contained"))
            report.uncontained = true;
        if (contains(line, "PANIC") || contains(line, "panic:") || contains(line, "unhandled exception"))
            report.panicked = true;
        if (line.starts_with("delos: ") && !(report.uncontained && !contains(line, "not contained") && !report.last_kernel_line.empty()
                                             && contains(report.last_kernel_line, "not contained")))
            report.last_kernel_line = std::string(line.substr(0, 240));
    }
    return report;
}

std::vector<Instruction> parse_objdump(std::string_view listing)
{
    std::vector<Instruction> instructions;
    std::string section;
    std::size_t section_start = instructions.size();
    for (std::string_view line : split_lines(listing)) {
        constexpr std::string_view kSection = "Disassembly of section ";
        if (line.starts_with(kSection)) {
            section = std::string(line.substr(kSection.size()));
            if (!section.empty() && section.back() == ':')
                section.pop_back();
            section_start = instructions.size();
            continue;
        }
        if (section.empty())
            continue;
        // "   1a:\t48 89 e5             \tmov    %rsp,%rbp"
        std::size_t colon = line.find(":\t");
        if (colon == std::string_view::npos)
            continue;
        std::string_view offset_text = line.substr(0, colon);
        while (!offset_text.empty() && offset_text.front() == ' ')
            offset_text.remove_prefix(1);
        auto offset = parse_unsigned(std::string("0x") + std::string(offset_text));
        if (!offset)
            continue;
        std::string_view rest = line.substr(colon + 2);
        std::size_t tab = rest.find('\t');
        std::string_view bytes = rest.substr(0, tab);
        std::uint32_t length = 0;
        for (std::string_view word : split_words(bytes)) {
            if (word.size() != 2)
                break;
            ++length;
        }
        if (length == 0 || length > 15)
            continue;
        (void)section_start;
        instructions.push_back(Instruction{section, *offset, length});
    }
    return instructions;
}

std::vector<Instruction> disassemble_cell(const std::string& object_path, std::string& error)
{
    std::string command = "objdump -d -w --no-show-raw-insn " + object_path;
    command = "objdump -d -w " + object_path + " 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) {
        error = "cannot run objdump";
        return {};
    }
    std::string listing;
    char buffer[65536];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        listing.append(buffer, n);
    int status = ::pclose(pipe);
    if (status != 0) {
        error = "objdump failed on " + object_path;
        return {};
    }
    auto instructions = parse_objdump(listing);
    if (instructions.empty())
        error = "objdump listed no instructions in " + object_path;
    return instructions;
}

} // namespace delos::fault_campaign
