// command_line.h: the guest command line: space-separated words; `key=value` words are options
// (e.g. virtio_mmio.device=4K@0xd0000000:5), the first other word is the command.
#pragma once

#include <cstddef>

#include "lib/core/string_view.h"

namespace delos {

class CommandLine {
public:
    explicit CommandLine(StringView text) : m_text(text) {}

    // The first word without '=', or "" when there is none.
    StringView command() const;
    // Words after the command that are not options (the command's arguments).
    StringView argument(std::size_t index) const;
    // The value of the index-th option named `key` (options may repeat), or false.
    bool option(StringView key, StringView& value, std::size_t index = 0) const;

    // visit(word) for every word, in order.
    template <typename Visitor>
    void for_each_word(Visitor&& visit) const
    {
        std::size_t i = 0;
        while (i < m_text.size()) {
            while (i < m_text.size() && m_text[i] == ' ')
                ++i;
            std::size_t start = i;
            while (i < m_text.size() && m_text[i] != ' ')
                ++i;
            if (i > start)
                visit(m_text.substr(start, i - start));
        }
    }

private:
    StringView positional(std::size_t index) const;  // 0 = the command

    StringView m_text;
};

} // namespace delos
