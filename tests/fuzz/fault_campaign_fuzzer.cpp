// fault_campaign_fuzzer.cpp: the fault campaign's parsers of untrusted text on arbitrary bytes:
// GDB remote packets and replies from the stub, the guest's console (sections, ready and verdict
// lines), objdump listings and --replay injection points. None may crash or read out of bounds,
// and a parsed point must print back to text that parses to the same point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/fault_campaign/gdb_remote_protocol.h"
#include "bench/fault_campaign/guest_report.h"
#include "bench/fault_campaign/injection_point.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace delos::fault_campaign;
    std::string_view text(reinterpret_cast<const char*>(data), size);

    gdb::PacketReader reader;
    reader.feed(text.substr(0, size / 2));
    while (auto packet = reader.next()) {
        (void)gdb::parse_stop_reply(packet->payload);
        (void)gdb::register_in_block(packet->payload, 16);
        (void)gdb::block_with_register(packet->payload, 7, 1);
        (void)gdb::from_hex(packet->payload);
    }
    reader.feed(text.substr(size / 2));
    while (reader.next()) {
    }

    (void)parse_guest_console(text);
    (void)parse_objdump(text);
    std::string error;
    if (auto point = parse_point(text, error)) {
        std::string printed = format_point(*point);
        auto again = parse_point(printed, error);
        if (!again || format_point(*again) != printed)
            __builtin_trap();
    }
    return 0;
}
