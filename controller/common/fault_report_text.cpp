// fault_report_text.cpp: the crash-report text of a FaultReport (delos-chan, delosctl).
#include "fault_report_text.h"
#include "symbol_names.h"

#include <cctype>
#include <cstdio>

namespace delos::controller {

namespace {

namespace v1 = delos::v1;

constexpr std::size_t kMaxTextField = 200;

// Guest strings are hostile: at most kMaxTextField bytes, control characters as '?'.
std::string clean(const std::string& text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < kMaxTextField; ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    }
    if (text.size() > kMaxTextField)
        out += "...";
    return out;
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : clean(text); }

std::string lower_word(const google::protobuf::EnumDescriptor* descriptor, int value, const std::string& prefix)
{
    const auto* known = descriptor->FindValueByNumber(value);
    if (!known)
        return "unknown-" + std::to_string(value);
    std::string word = known->name().rfind(prefix, 0) == 0 ? known->name().substr(prefix.size()) : known->name();
    for (char& c : word)
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return word;
}

std::string hex(std::uint64_t value)
{
    char text[24];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

std::string hex16(std::uint64_t value)
{
    char text[24];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return text;
}

std::string where(const v1::FaultReport& report)
{
    if (report.cell_name().empty())
        return "the kernel";
    return "cell " + clean(report.cell_name()) + "@" + or_dash(report.cell_version());
}

} // namespace

std::string printable_guest_text(const std::string& text) { return clean(text); }

std::string fault_report_heading(const v1::FaultReport& report)
{
    return "=== fault #" + std::to_string(report.fault_sequence()) + " of boot " + or_dash(report.boot_id()) + " ===\n";
}

std::string fault_report_text(const v1::FaultReport& report)
{
    return fault_report_heading(report) + fault_report_body(report);
}

std::string fault_report_body(const v1::FaultReport& report)
{
    std::string text;
    text += lower_word(v1::FaultKind_descriptor(), report.kind(), "FAULT_KIND_") + " (vector " +
            std::to_string(report.vector()) + ", error " + hex(report.error_code()) + ") in " + where(report);
    // Zero means the guest did not say (reports from before these fields, or the kernel core).
    if (report.cell_generation() != 0 || report.fault_count() != 0)
        text += " (generation " + std::to_string(report.cell_generation()) + ", fault #" +
                std::to_string(report.fault_count()) + " of this cell)";
    text += "\n";
    if (!report.message().empty())
        text += "  " + clean(report.message()) + "\n";
    text += "  task " + std::to_string(report.task_id()) + " '" + clean(report.task_name()) + "'\n";
    text += "  rip " + hex(report.instruction_pointer()) + " = ";
    if (!report.cell_name().empty()) {
        text += clean(report.cell_name()) + "@" + or_dash(report.cell_version()) + " build " +
                or_dash(report.cell_build_id());
        if (!report.section().empty())
            text += " " + clean(report.section()) + "+" + hex(report.section_offset());
        text += " = ";
    } else {
        text += "kernel ";
    }
    text += (report.symbol().empty() ? std::string("??") : clean(controller::demangled_symbol(report.symbol()))) + "+" + hex(report.symbol_offset()) +
            "\n";
    if (report.kind() == v1::FAULT_KIND_PAGE_FAULT || report.address() != 0)
        text += "  fault address (cr2) " + hex(report.address()) + "\n";
    if (report.has_registers()) {
        const v1::FaultRegisters& r = report.registers();
        text += "  rax " + hex16(r.rax()) + "  rbx " + hex16(r.rbx()) + "  rcx " + hex16(r.rcx()) + "  rdx " +
                hex16(r.rdx()) + "\n";
        text += "  rsi " + hex16(r.rsi()) + "  rdi " + hex16(r.rdi()) + "  rbp " + hex16(r.rbp()) + "  rsp " +
                hex16(r.rsp()) + "\n";
        text += "  r8  " + hex16(r.r8()) + "  r9  " + hex16(r.r9()) + "  r10 " + hex16(r.r10()) + "  r11 " +
                hex16(r.r11()) + "\n";
        text += "  r12 " + hex16(r.r12()) + "  r13 " + hex16(r.r13()) + "  r14 " + hex16(r.r14()) + "  r15 " +
                hex16(r.r15()) + "\n";
        text += "  rip " + hex16(r.rip()) + "  rflags " + hex16(r.rflags()) + "\n";
    }
    text += "  backtrace:\n";
    int index = 0;
    for (const v1::BacktraceFrame& frame : report.backtrace()) {
        char line[64];
        std::snprintf(line, sizeof line, "    #%-2d 0x%016llx ", index++, static_cast<unsigned long long>(frame.address()));
        text += line;
        text += (frame.symbol().empty() ? std::string("??") : clean(controller::demangled_symbol(frame.symbol()))) + "+" + hex(frame.offset());
        text += frame.cell().empty() ? " (kernel)\n" : " (" + clean(frame.cell()) + ")\n";
    }
    text += "  recovery: " + lower_word(v1::RecoveryAction_descriptor(), report.action(), "RECOVERY_ACTION_") + "\n";
    return text;
}

} // namespace delos::controller
