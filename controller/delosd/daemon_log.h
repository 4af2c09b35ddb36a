// daemon_log.h: delosd's structured log lines on stderr (logfmt: time=... level=... msg=...
// key=value), which journald and people both read.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

namespace delos::controller {

void set_log_level(const std::string& level);  // debug, info, warn, error
void log_line(const char* level, const std::string& message,
              std::initializer_list<std::pair<const char*, std::string>> fields = {});

} // namespace delos::controller
