// lsda.h: reading a GCC language-specific data area (.gcc_except_table): the call-site table
// that says, for an instruction, whether a landing pad (cleanups, handlers) covers it. Input is
// untrusted: reads are bounded by the view, action chains by a step limit.
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"

namespace delos::unwind {

inline constexpr std::size_t kActionChainLimit = 256;

enum class CallSiteKind : std::uint8_t {
    NoLandingPad,  // covered, nothing to run in this frame
    LandingPad,    // covered, `landing_pad` runs cleanups (and would dispatch handlers)
    NotCovered,    // no entry: the C++ ABI says terminate (a noexcept function)
};

struct CallSite {
    CallSiteKind kind = CallSiteKind::NotCovered;
    std::uint64_t landing_pad = 0;
    bool has_cleanup = false;   // the action chain has a cleanup (filter 0), or there is no chain
    bool has_handler = false;   // the chain has a catch clause (filter > 0)
    bool has_filter = false;    // the chain has an exception specification (filter < 0)
};

// Looks `ip` up in the LSDA whose bytes are `lsda` (seen at `lsda_address`) for the function
// starting at `function_start`. `ip` is the faulting instruction, or a return address minus one.
ErrorOr<CallSite> find_call_site(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start, std::uint64_t ip);

// Calls `visit(start, end, landing_pad, action)` for every call-site entry (for tests and
// inspection); stops at the first malformed entry.
template <typename Visit>
ErrorOr<void> for_each_call_site(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start, Visit&& visit);

struct LsdaHeader {
    std::uint64_t landing_pad_base = 0;
    std::uint8_t call_site_encoding = 0;
    std::size_t call_site_table_start = 0;
    std::size_t call_site_table_end = 0;   // also where the action table starts
};
ErrorOr<LsdaHeader> parse_lsda_header(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start);

struct CallSiteEntry {
    std::uint64_t start = 0;        // absolute
    std::uint64_t end = 0;          // absolute, exclusive
    std::uint64_t landing_pad = 0;  // absolute, 0 = none
    std::uint64_t action = 0;       // 0 = cleanup only, else 1 + offset into the action table
};
// Reads the entry at `offset` (inside the call-site table) and advances it.
ErrorOr<CallSiteEntry> read_call_site(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start,
                                      const LsdaHeader& header, std::size_t& offset);

template <typename Visit>
ErrorOr<void> for_each_call_site(ByteView lsda, std::uint64_t lsda_address, std::uint64_t function_start, Visit&& visit)
{
    LsdaHeader header = TRY(parse_lsda_header(lsda, lsda_address, function_start));
    std::size_t offset = header.call_site_table_start;
    while (offset < header.call_site_table_end) {
        CallSiteEntry entry = TRY(read_call_site(lsda, lsda_address, function_start, header, offset));
        visit(entry);
    }
    return {};
}

} // namespace delos::unwind
