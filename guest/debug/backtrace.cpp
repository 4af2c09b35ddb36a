// backtrace.cpp: frame-pointer walking with every step checked against the page table.
#include "debug/backtrace.h"

#include "log/kernel_log.h"
#include "debug/kernel_symbols.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"

namespace delos {

namespace {

bool readable(std::uint64_t address)
{
    if (address % 8 != 0 || address < memory::kPageSize)
        return false;
    return memory::kernel_page_table().root() == 0 ||
           (memory::kernel_page_table().access_of(address) != memory::Access::None &&
            memory::kernel_page_table().access_of(address + 8) != memory::Access::None);
}

void print_frame(std::size_t index, std::uint64_t address)
{
    kernel_symbols::Symbol symbol;
    StringView owner;
    // Return addresses point after the call; look up address - 1 so a call at a function's end
    // is attributed to that function.
    if (kernel_symbols::symbolize(address - 1, symbol, owner))
        kprint("  #{} {:#018x} {}+{:#x} ({})\n", index, address, symbol.display_name, address - symbol.address, owner);
    else
        kprint("  #{} {:#018x} ?\n", index, address);
}

} // namespace

std::size_t collect_backtrace(std::uint64_t frame_pointer, std::uint64_t* addresses, std::size_t capacity)
{
    std::size_t count = 0;
    while (count < capacity && frame_pointer != 0 && readable(frame_pointer)) {
        auto* frame = reinterpret_cast<std::uint64_t*>(frame_pointer);
        std::uint64_t return_address = frame[1];
        if (return_address == 0)
            break;
        addresses[count++] = return_address;
        if (frame[0] <= frame_pointer)  // stacks grow down: callers' frames are higher
            break;
        frame_pointer = frame[0];
    }
    return count;
}

void print_backtrace(std::uint64_t frame_pointer, std::uint64_t first_address)
{
    std::uint64_t addresses[kMaxBacktraceDepth];
    std::size_t count = collect_backtrace(frame_pointer, addresses, kMaxBacktraceDepth);
    kprint("backtrace:\n");
    std::size_t index = 0;
    if (first_address)
        print_frame(index++, first_address + 1);  // the faulting instruction itself, not a return address
    for (std::size_t i = 0; i < count; ++i)
        print_frame(index++, addresses[i]);
}

void report_panic_backtrace(std::uint64_t frame_pointer) { print_backtrace(frame_pointer); }

} // namespace delos
