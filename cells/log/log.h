// log.h: the log cell's interface: leveled, {}-formatted lines on the serial console, each
// prefixed with the name of the cell that wrote it.
#pragma once

#include <cstdint>

#include "lib/core/format.h"
#include "linker/cell_info.h"
#include "lib/core/string_view.h"

namespace delos::log {

enum class Level : std::uint8_t { Debug, Info, Warning, Error };

// Exported by the log cell.
void write(Level level, StringView cell, StringView message);
void set_threshold(Level level);  // lines below it are dropped
Level threshold();
std::uint64_t lines_written();

// Formats in the calling cell and tags the line with that cell's name (its DELOS_CELL record).
template <typename... Args>
void message(Level level, StringView format_string, const Args&... args)
{
    if (level < threshold())
        return;
    String text = format(format_string, args...);
    write(level, this_cell_name(), text.view());
}

template <typename... Args>
void debug(StringView format_string, const Args&... args) { message(Level::Debug, format_string, args...); }
template <typename... Args>
void info(StringView format_string, const Args&... args) { message(Level::Info, format_string, args...); }
template <typename... Args>
void warning(StringView format_string, const Args&... args) { message(Level::Warning, format_string, args...); }
template <typename... Args>
void error(StringView format_string, const Args&... args) { message(Level::Error, format_string, args...); }

} // namespace delos::log
