// command_line.cpp: word splitting and lookups for CommandLine.
#include "lib/core/command_line.h"

namespace delos {

StringView CommandLine::command() const { return positional(0); }

StringView CommandLine::argument(std::size_t index) const { return positional(index + 1); }

StringView CommandLine::positional(std::size_t wanted) const
{
    std::size_t seen = 0;
    StringView found;
    bool done = false;
    for_each_word([&](StringView word) {
        if (done || word.find('=') != StringView::npos)
            return;
        if (seen++ == wanted) {
            found = word;
            done = true;
        }
    });
    return found;
}

bool CommandLine::option(StringView key, StringView& value, std::size_t index) const
{
    std::size_t seen = 0;
    bool found = false;
    for_each_word([&](StringView word) {
        std::size_t equals = word.find('=');
        if (found || equals == StringView::npos || word.substr(0, equals) != key)
            return;
        if (seen++ == index) {
            value = word.substr(equals + 1);
            found = true;
        }
    });
    return found;
}

} // namespace delos
