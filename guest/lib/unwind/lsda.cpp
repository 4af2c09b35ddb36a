// lsda.cpp: the LSDA header, call-site entries and action chains, all bounds-checked.
#include "lib/unwind/lsda.h"

#include "lib/unwind/dwarf_reader.h"

namespace delos::unwind {

ErrorOr<LsdaHeader> parse_lsda_header(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start)
{
    using namespace pointer_encoding;
    DwarfReader reader(lsda, lsda_address);
    LsdaHeader header;
    std::uint8_t landing_pad_base_encoding = TRY(reader.read<std::uint8_t>());
    header.landing_pad_base = function_start;
    if (landing_pad_base_encoding != kOmit) {
        if (landing_pad_base_encoding & kIndirect)
            return Error::make(ErrorCode::Unsupported, "indirect LSDA landing pad base");
        header.landing_pad_base = TRY(reader.read_encoded(landing_pad_base_encoding, nullptr, function_start));
    }
    std::uint8_t type_table_encoding = TRY(reader.read<std::uint8_t>());
    if (type_table_encoding != kOmit)
        (void)TRY(reader.read_uleb128());  // the type table's offset: handlers never match a fault
    header.call_site_encoding = TRY(reader.read<std::uint8_t>());
    if (header.call_site_encoding == kOmit || (header.call_site_encoding & 0x70) != 0)
        return Error::make(ErrorCode::Unsupported, "LSDA call-site encoding", header.call_site_encoding);
    std::uint64_t table_length = TRY(reader.read_uleb128());
    if (table_length > reader.remaining())
        return Error::make(ErrorCode::Malformed, "LSDA call-site table runs past the data", table_length);
    header.call_site_table_start = reader.offset();
    header.call_site_table_end = reader.offset() + static_cast<std::size_t>(table_length);
    return header;
}

ErrorOr<CallSiteEntry> read_call_site(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start,
                                      const LsdaHeader& header, std::size_t& offset)
{
    ByteView table = TRY(lsda.slice(0, header.call_site_table_end));
    DwarfReader reader(table, lsda_address, offset);
    std::uint64_t start = TRY(reader.read_encoded(header.call_site_encoding));
    std::uint64_t length = TRY(reader.read_encoded(header.call_site_encoding));
    std::uint64_t landing_pad = TRY(reader.read_encoded(header.call_site_encoding));
    std::uint64_t action = TRY(reader.read_uleb128());
    offset = reader.offset();
    CallSiteEntry entry;
    entry.start = function_start + start;
    if (entry.start < function_start || length > ~entry.start)
        return Error::make(ErrorCode::Malformed, "LSDA call-site range wraps around", start);
    entry.end = entry.start + length;
    entry.landing_pad = landing_pad ? header.landing_pad_base + landing_pad : 0;
    entry.action = action;
    return entry;
}

ErrorOr<CallSite> find_call_site(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start, std::uint64_t ip)
{
    LsdaHeader header = TRY(parse_lsda_header(lsda, lsda_address, function_start));
    std::size_t offset = header.call_site_table_start;
    // Each entry takes at least 4 bytes, so the walk is bounded by the table's length.
    while (offset < header.call_site_table_end) {
        CallSiteEntry entry = TRY(read_call_site(lsda, lsda_address, function_start, header, offset));
        if (ip < entry.start)
            break;  // entries are sorted: nothing later covers ip
        if (ip >= entry.end)
            continue;
        CallSite site;
        if (entry.landing_pad == 0) {
            site.kind = CallSiteKind::NoLandingPad;
            return site;
        }
        site.kind = CallSiteKind::LandingPad;
        site.landing_pad = entry.landing_pad;
        if (entry.action == 0) {
            site.has_cleanup = true;
            return site;
        }
        // The action chain: (filter, next) pairs of SLEB128, `next` relative to its own position.
        std::uint64_t action_offset = header.call_site_table_end + (entry.action - 1);
        if (entry.action - 1 > lsda.size())
            return Error::make(ErrorCode::Malformed, "LSDA action lies outside the data", entry.action);
        for (std::size_t steps = 0;; ++steps) {
            if (steps == kActionChainLimit)
                return Error::make(ErrorCode::Malformed, "LSDA action chain too long (a cycle?)");
            DwarfReader actions(lsda, lsda_address, static_cast<std::size_t>(action_offset));
            if (action_offset > lsda.size())
                return Error::make(ErrorCode::Malformed, "LSDA action lies outside the data", action_offset);
            std::int64_t filter = TRY(actions.read_sleb128());
            std::size_t next_position = actions.offset();
            std::int64_t next = TRY(actions.read_sleb128());
            if (filter == 0)
                site.has_cleanup = true;
            else if (filter > 0)
                site.has_handler = true;
            else
                site.has_filter = true;
            if (next == 0)
                break;
            // Unsigned arithmetic: a hostile displacement must not overflow.
            std::uint64_t target = static_cast<std::uint64_t>(next_position) + static_cast<std::uint64_t>(next);
            if (target >= lsda.size())
                return Error::make(ErrorCode::Malformed, "LSDA action chain leaves the data");
            action_offset = target;
        }
        return site;
    }
    CallSite site;
    site.kind = CallSiteKind::NotCovered;
    return site;
}

} // namespace delos::unwind
