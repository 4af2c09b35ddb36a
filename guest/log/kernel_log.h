// kernel_log.h: the kernel's own formatted console output (cells log through the log cell).
#pragma once

#include "lib/core/format.h"

namespace delos {

// Formats one message into a stack buffer and writes it to the console in one piece.
void kernel_print_formatted(StringView format, const FormatArgument* arguments, std::size_t count);

template <typename... Args>
void kprint(StringView format, const Args&... args)
{
    if constexpr (sizeof...(Args) == 0) {
        kernel_print_formatted(format, nullptr, 0);
    } else {
        const FormatArgument arguments[] = {FormatArgument(args)...};
        kernel_print_formatted(format, arguments, sizeof...(Args));
    }
}

} // namespace delos
