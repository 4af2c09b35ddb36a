// fault_report_text.h: a guest's FaultReport (channel protocol) as a crash report for people, in
// the shape crash reports have elsewhere (Android tombstones, Sentry events): what, where (cell
// @ version, build id, section + offset, symbol + offset), the registers and the backtrace.
// Every field comes from the guest and is printed as data: unknown enum values are named by
// number and strings are cut and stripped of control characters.
#pragma once

#include <string>

#include "delos/v1/channel.pb.h"

namespace delos::chan {

std::string fault_report_text(const delos::v1::FaultReport& report);

} // namespace delos::chan
