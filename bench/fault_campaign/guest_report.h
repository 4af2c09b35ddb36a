// guest_report.h: what a campaign guest says on its serial console, parsed: the target cell's
// sections ("fc: section KIND ADDR SIZE NAME"), the ready line with the address the injector
// writes to start the run, the verdict line with its counters, and the kernel's fault lines
// (contained faults, faults it could not contain, panics). The console is untrusted text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace delos::fault_campaign {

struct GuestSection {
    std::string kind;  // text, rodata, data
    std::uint64_t address = 0;
    std::uint64_t size = 0;
    std::string name;
};

struct Verdict {
    std::string verdict;  // correct, wrong, incomplete
    std::string workload;
    std::map<std::string, std::int64_t> counters;  // requests, faults, contained, reloads, frames_delta, ...
    std::string problem;
    std::int64_t counter(const std::string& name) const
    {
        auto found = counters.find(name);
        return found == counters.end() ? 0 : found->second;
    }
};

struct GuestReport {
    std::vector<GuestSection> sections;
    bool ready = false;
    std::uint64_t go_address = 0;
    std::optional<Verdict> verdict;
    int contained_faults = 0;       // "delos: FAULT #" lines after the ready line
    bool uncontained = false;       // "not contained"
    bool panicked = false;          // a panic or an unhandled exception report
    std::string last_kernel_line;   // the last "delos:" line (for failure reports)
};

GuestReport parse_guest_console(std::string_view console);
std::optional<Verdict> parse_verdict_line(std::string_view line);

// One instruction of a target cell's code, by section and offset (as objdump lists the object).
struct Instruction {
    std::string section;
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
};
// Parses `objdump -d -w` output of a cell object.
std::vector<Instruction> parse_objdump(std::string_view listing);
// Runs objdump on `object_path`; empty with `error` set on failure.
std::vector<Instruction> disassemble_cell(const std::string& object_path, std::string& error);

} // namespace delos::fault_campaign
