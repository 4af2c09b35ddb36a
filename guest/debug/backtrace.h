// backtrace.h: walking frame-pointer chains safely and printing them with symbol names.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/format.h"

namespace delos {

inline constexpr std::size_t kMaxBacktraceDepth = 32;

// Return addresses from the frame chain starting at `frame_pointer`; stops at the first frame
// that is not readable kernel memory. Returns how many were stored.
std::size_t collect_backtrace(std::uint64_t frame_pointer, std::uint64_t* addresses, std::size_t capacity);

// "symbol+0xoff (kernel)" or "symbol+0xoff (cell NAME VERSION)", or "?"; `lookup_address` is
// what is looked up (a return address minus one), the offset is from `address`.
void describe_code_address(FormatSink& sink, std::uint64_t address, std::uint64_t lookup_address);

// Prints "  #i 0x... symbol+0xoff (owner)" lines, starting with `first_address` if non-zero.
void print_backtrace(std::uint64_t frame_pointer, std::uint64_t first_address = 0);

// The panic reporter (log/panic.h) the kernel installs: the symbolised backtrace of the panicking frame.
void report_panic_backtrace(std::uint64_t frame_pointer);

} // namespace delos
