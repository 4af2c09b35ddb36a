// kernel_image.h: reading a guest kernel ELF (segments and PVH entry note) and loading it into RAM.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "guest_memory.h"

namespace delos::vmm {

struct KernelSegment {
    std::uint64_t physical_address;
    std::span<const std::uint8_t> file_bytes;  // copied to physical_address
    std::uint64_t memory_size;                 // file_bytes, then zeros up to this size
};

struct KernelImage {
    std::uint32_t pvh_entry = 0;  // 32-bit protected-mode entry from the Xen PHYS32_ENTRY note
    std::vector<KernelSegment> segments;
    std::uint64_t lowest_address = 0;
    std::uint64_t end_address = 0;  // first byte after the highest segment
};

// Parses an ELF-64 x86-64 kernel held in `file` (which must outlive the result).
// Throws BadInput naming what is wrong: not ELF, no PVH note, segments below 1 MiB or
// overlapping one another, ...
KernelImage parse_kernel_image(std::span<const std::uint8_t> file);

// Copies every segment into guest RAM and zeroes its tail; throws BadInput if RAM is too small.
void load_kernel_image(const KernelImage& image, GuestMemory& memory);

// The size of a regular file, from stat alone; throws BadInput("cannot read <what> <path>: reason").
std::uint64_t regular_file_size(const std::string& path, const char* what);

// Reads a whole file; throws BadInput("cannot read <what> <path>: reason"), and refuses a file
// larger than `max_bytes` before reading any of it.
std::vector<std::uint8_t> read_file(const std::string& path, const char* what,
                                    std::uint64_t max_bytes = ~std::uint64_t(0));

// Reads what booting a kernel ELF needs: the file up to the end of the last range a program
// header names, with the section header table dropped from the copy (a debug build's kernel is
// mostly sections the VMM never looks at: reading and faulting them in cost ~4 ms of boot).
// Anything that does not look like an ELF-64 header is read whole, for the parser to refuse.
// What would be read is refused unread when it is larger than `max_bytes` (the guest's RAM).
std::vector<std::uint8_t> read_kernel_file(const std::string& path, std::uint64_t max_bytes = ~std::uint64_t(0));

} // namespace delos::vmm
