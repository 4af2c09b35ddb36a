// guest_stack_walk.cpp: x86-64 4/5-level page walk, frame-pointer walk and their report.
#include "guest_stack_walk.h"

#include <cstdio>
#include <cstring>

namespace delos::vmm {

namespace {

constexpr std::uint64_t kPresent = 1ull << 0;
constexpr std::uint64_t kPageSizeBit = 1ull << 7;
constexpr std::uint64_t kFrameMask = 0x000ffffffffff000ull;  // bits 12..51

bool canonical(std::uint64_t address, unsigned bits)
{
    auto top = static_cast<std::int64_t>(address) >> (bits - 1);  // sign bits above the used ones
    return top == 0 || top == -1;
}

} // namespace

std::optional<std::uint64_t> GuestAddressSpace::read_physical_u64(std::uint64_t physical_address) const
{
    if (physical_address > m_ram.size() || m_ram.size() - physical_address < 8)
        return std::nullopt;
    std::uint64_t value;
    std::memcpy(&value, m_ram.data() + physical_address, 8);
    return value;
}

std::optional<std::uint64_t> GuestAddressSpace::translate(std::uint64_t virtual_address) const
{
    if (!m_paging.enabled)
        return virtual_address;
    int levels = m_paging.five_level ? 5 : 4;
    if (!canonical(virtual_address, m_paging.five_level ? 57 : 48))
        return std::nullopt;
    std::uint64_t table = m_paging.root & kFrameMask;
    for (int level = levels; level >= 1; --level) {
        unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
        std::uint64_t index = (virtual_address >> shift) & 511;
        auto entry = read_physical_u64(table + index * 8);
        if (!entry || !(*entry & kPresent))
            return std::nullopt;
        // A 1 GiB (level 3) or 2 MiB (level 2) page ends the walk early.
        if ((level == 3 || level == 2) && (*entry & kPageSizeBit)) {
            std::uint64_t page_mask = (1ull << shift) - 1;
            return ((*entry & kFrameMask) & ~page_mask) | (virtual_address & page_mask);
        }
        table = *entry & kFrameMask;
    }
    return table | (virtual_address & 0xfff);
}

std::optional<std::uint64_t> GuestAddressSpace::read_u64(std::uint64_t virtual_address) const
{
    if (virtual_address % 8 != 0)  // aligned words never straddle a page
        return std::nullopt;
    auto physical = translate(virtual_address);
    if (!physical)
        return std::nullopt;
    return read_physical_u64(*physical);
}

std::vector<std::uint64_t> walk_frame_pointers(const GuestAddressSpace& memory, std::uint64_t frame_pointer,
                                               std::size_t max_depth)
{
    std::vector<std::uint64_t> return_addresses;
    while (return_addresses.size() < max_depth && frame_pointer != 0 && frame_pointer % 8 == 0 &&
           frame_pointer <= ~std::uint64_t(0) - 16) {
        auto saved_frame_pointer = memory.read_u64(frame_pointer);
        auto return_address = memory.read_u64(frame_pointer + 8);
        if (!saved_frame_pointer || !return_address || *return_address == 0)
            break;
        return_addresses.push_back(*return_address);
        if (*saved_frame_pointer <= frame_pointer)  // stacks grow down: a caller's frame is higher
            break;
        frame_pointer = *saved_frame_pointer;
    }
    return return_addresses;
}

std::string describe_guest_backtrace(const GuestAddressSpace& memory, const SymbolTable& symbols, std::uint64_t rip,
                                     std::uint64_t rbp)
{
    auto line = [&](std::size_t index, std::uint64_t address, std::uint64_t lookup_address) {
        char prefix[48];
        std::snprintf(prefix, sizeof prefix, "    #%zu 0x%016llx ", index, static_cast<unsigned long long>(address));
        std::string text = prefix;
        if (auto match = symbols.lookup(lookup_address)) {
            char offset[24];
            std::snprintf(offset, sizeof offset, "+0x%llx",
                          static_cast<unsigned long long>(match->offset + (address - lookup_address)));
            text += match->name + offset + " (kernel)\n";
        } else {
            text += "?\n";
        }
        return text;
    };
    std::string report = "  backtrace (read from guest memory):\n";
    report += line(0, rip, rip);
    std::size_t index = 1;
    auto frames = walk_frame_pointers(memory, rbp);
    for (std::uint64_t return_address : frames)
        report += line(index++, return_address, return_address - 1);
    if (frames.size() == kMaxGuestBacktraceDepth)
        report += "    ... (stopped at " + std::to_string(kMaxGuestBacktraceDepth) + " frames)\n";
    return report;
}

} // namespace delos::vmm
