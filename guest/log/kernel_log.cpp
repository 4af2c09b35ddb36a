// kernel_log.cpp: format into a bounded buffer, then one serial write.
#include "log/kernel_log.h"

#include "platform/serial.h"

namespace delos {

void kernel_print_formatted(StringView format, const FormatArgument* arguments, std::size_t count)
{
    char buffer[512];
    FixedBufferSink sink(buffer, sizeof buffer);
    vformat(sink, format, arguments, count);
    serial::write(sink.view());
    if (sink.truncated())
        serial::write("...[truncated]\n");
}

} // namespace delos
