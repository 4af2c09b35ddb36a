// kernel_symbol_table.h: the layout of the .delos.ksyms section that the build fills in after
// linking the kernel (guest/tools/embed_kernel_symbols) and the kernel reads at run time.
#pragma once

#include <cstdint>

namespace delos::abi {

inline constexpr std::uint32_t kKernelSymbolsMagic = 0x4d59534b;  // "KSYM"
inline constexpr std::uint32_t kKernelSymbolsCapacity = 512 * 1024;
inline constexpr const char* kKernelSymbolsSection = ".delos.ksyms";

struct KernelSymbolsHeader {
    std::uint32_t magic;  // 0 until the build tool has filled the table in
    std::uint32_t symbol_count;
    std::uint32_t strings_offset;  // from the start of the header
    std::uint32_t strings_size;
    std::uint32_t name_index_offset;  // u32 entry indexes of exported symbols, sorted by name
    std::uint32_t name_index_count;
};

inline constexpr std::uint32_t kKernelSymbolExported = 1;

// Sorted by address; names are offsets into the string area (NUL-terminated).
struct KernelSymbolEntry {
    std::uint64_t address;
    std::uint32_t size;
    std::uint32_t name_offset;
    std::uint32_t display_name_offset;
    std::uint32_t flags;
};
static_assert(sizeof(KernelSymbolEntry) == 24);

} // namespace delos::abi
