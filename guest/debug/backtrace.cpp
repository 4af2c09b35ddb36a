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

void print_frame(std::size_t index, std::uint64_t address, std::uint64_t lookup_address)
{
    char location[256];
    FixedBufferSink sink(location, sizeof location);
    describe_code_address(sink, address, lookup_address);
    kprint("  #{} {:#018x} {}\n", index, address, sink.view());
}

} // namespace

void describe_code_address(FormatSink& sink, std::uint64_t address, std::uint64_t lookup_address)
{
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    if (!kernel_symbols::symbolize(lookup_address, symbol, owner)) {
        format_to(sink, "?");
        return;
    }
    if (owner.version.empty())
        format_to(sink, "{}+{:#x} ({})", symbol.display_name, address - symbol.address, owner.name);
    else
        format_to(sink, "{}+{:#x} (cell {} {})", symbol.display_name, address - symbol.address, owner.name, owner.version);
}

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
        print_frame(index++, first_address, first_address);  // the faulting instruction itself, not a return address
    // Return addresses point after the call; look up address - 1 so a call at a function's end
    // is attributed to that function.
    for (std::size_t i = 0; i < count; ++i)
        print_frame(index++, addresses[i], addresses[i] - 1);
}

void report_panic_backtrace(std::uint64_t frame_pointer) { print_backtrace(frame_pointer); }

} // namespace delos
