// daemon_log.cpp: see daemon_log.h.
#include "daemon_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace delos::controller {

namespace {

int g_threshold = 1;

int rank(const std::string& level)
{
    if (level == "debug")
        return 0;
    if (level == "info")
        return 1;
    if (level == "warn")
        return 2;
    return 3;
}

// Quotes a value when it holds spaces, quotes or '=' (logfmt).
std::string quoted(const std::string& value)
{
    if (!value.empty() && value.find_first_of(" \"=\n\t") == std::string::npos)
        return value;
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

} // namespace

void set_log_level(const std::string& level) { g_threshold = rank(level); }

void log_line(const char* level, const std::string& message,
              std::initializer_list<std::pair<const char*, std::string>> fields)
{
    if (rank(level) < g_threshold)
        return;
    auto now = std::chrono::system_clock::now();
    std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[40];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
    std::string line = std::string("time=") + stamp + " level=" + level + " msg=" + quoted(message);
    for (const auto& [key, value] : fields)
        line += std::string(" ") + key + "=" + quoted(value);
    line += "\n";
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
}

} // namespace delos::controller
