// log.cpp: the log cell: renders "[level] cell: message" lines and writes each with one
// serial write, so lines from different tasks never interleave mid-line.
#include "log/log.h"

#include "platform/serial.h"
#include "linker/cell_info.h"

namespace delos::log {

namespace {

const char* const kLevelNames[] = {"debug", "info", "warn", "error"};

Level g_threshold = Level::Info;
std::uint64_t g_lines_written = 0;

ErrorOr<void> log_init()
{
    write(Level::Info, this_cell_name(), "ready");
    return {};
}

} // namespace

void write(Level level, StringView cell, StringView message)
{
    if (level < g_threshold)
        return;
    auto index = static_cast<unsigned>(level);
    const char* name = index < sizeof kLevelNames / sizeof kLevelNames[0] ? kLevelNames[index] : "?";
    String line = format("[{:<5}] {}: {}\n", name, cell, message);
    serial::write(line.view());
    ++g_lines_written;
}

void set_threshold(Level level) { g_threshold = level; }

Level threshold() { return g_threshold; }

std::uint64_t lines_written() { return g_lines_written; }

} // namespace delos::log

DELOS_CELL("log", "1.0.0", delos::log::log_init, nullptr);
