// fault_report_text.h: a guest's FaultReport (channel protocol) as a crash report for people, in
// the shape crash reports have elsewhere (Android tombstones, Sentry events): what, where (cell
// @ version, build id, section + offset, symbol + offset), the registers and the backtrace.
// delos-chan prints heading + body; delosctl prints delosd's own heading (vm, record number,
// the pushed object's SHA-256) and the same body, so the two tools never disagree on a report.
// Every field comes from the guest and is printed as data: unknown enum values are named by
// number and strings are cut and stripped of control characters.
#pragma once

#include <string>

#include "delos/v1/channel.pb.h"

namespace delos::controller {

// "=== fault #N of boot B ===": the guest's own numbering.
std::string fault_report_heading(const delos::v1::FaultReport& report);
// What and where, message, task, rip, registers, backtrace, recovery action; one line each.
std::string fault_report_body(const delos::v1::FaultReport& report);
std::string fault_report_text(const delos::v1::FaultReport& report);

// A guest string as data: at most 200 bytes, control characters as '?'.
std::string printable_guest_text(const std::string& text);

} // namespace delos::controller
