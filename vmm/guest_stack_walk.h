// guest_stack_walk.h: a crashed guest's backtrace read from its RAM, for delos-vmm's exit-3 reports:
// virtual addresses through the guest's own page tables, then the frame-pointer chain. Guest
// memory is hostile: every read is bounds-checked, the walk only moves up the stack (no loops)
// and stops at a depth limit.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "symbol_table.h"

namespace delos::vmm {

inline constexpr std::size_t kMaxGuestBacktraceDepth = 64;

// The guest's view of its memory at the time of the crash.
class GuestAddressSpace {
public:
    struct Paging {
        bool enabled = false;     // CR0.PG; off: virtual == physical
        std::uint64_t root = 0;   // CR3
        bool five_level = false;  // CR4.LA57
    };
    GuestAddressSpace(std::span<const std::uint8_t> ram, Paging paging) : m_ram(ram), m_paging(paging) {}

    // The physical address a virtual one maps to (present entries only), if any.
    std::optional<std::uint64_t> translate(std::uint64_t virtual_address) const;
    // An 8-byte little-endian word at a virtual address; nothing if any byte is unmapped or not RAM.
    std::optional<std::uint64_t> read_u64(std::uint64_t virtual_address) const;

private:
    std::optional<std::uint64_t> read_physical_u64(std::uint64_t physical_address) const;

    std::span<const std::uint8_t> m_ram;
    Paging m_paging;
};

// The return addresses of the frame-pointer chain that starts at `frame_pointer` (rbp): each frame
// holds the caller's rbp, then the return address. Stops at a null or misaligned frame pointer,
// an unreadable frame, a null return address, a frame that does not lie above the previous one,
// or `max_depth` frames.
std::vector<std::uint64_t> walk_frame_pointers(const GuestAddressSpace& memory, std::uint64_t frame_pointer,
                                               std::size_t max_depth = kMaxGuestBacktraceDepth);

// "  backtrace (read from guest memory):\n    #0 0x... name+0x1f (kernel)\n ...": rip first, then
// the walk from rbp, return addresses looked up one byte back (the call, not what follows it).
std::string describe_guest_backtrace(const GuestAddressSpace& memory, const SymbolTable& symbols, std::uint64_t rip,
                                     std::uint64_t rbp);

} // namespace delos::vmm
