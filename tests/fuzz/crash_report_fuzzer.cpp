// crash_report_fuzzer.cpp: fuzz-crash-report: delos-vmm's exit-3 backtrace over hostile guest RAM
// (page tables and frame chains) and arbitrary bytes as the kernel ELF's symbol table.
//
// Input: rbp, rip, cr3 (u64 each), a flags byte (bit 0 paging, bit 1 five-level), a u32 count of
// the following bytes that form the ELF; the rest is guest RAM. Both are copied into exact-size
// heap blocks, so ASan sees any read past either.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "vmm/guest_stack_walk.h"
#include "vmm/symbol_table.h"

using namespace delos::vmm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    constexpr std::size_t kHeader = 29;
    if (size < kHeader)
        return 0;
    std::uint64_t rbp, rip, cr3;
    std::uint32_t elf_bytes;
    std::memcpy(&rbp, data, 8);
    std::memcpy(&rip, data + 8, 8);
    std::memcpy(&cr3, data + 16, 8);
    std::uint8_t flags = data[24];
    std::memcpy(&elf_bytes, data + 25, 4);
    const std::uint8_t* rest = data + kHeader;
    std::size_t rest_size = size - kHeader;
    std::size_t elf_size = elf_bytes < rest_size ? elf_bytes : rest_size;
    std::size_t ram_size = rest_size - elf_size;

    auto elf = std::make_unique<std::uint8_t[]>(elf_size + 1);
    std::memcpy(elf.get(), rest, elf_size);
    auto ram = std::make_unique<std::uint8_t[]>(ram_size + 1);
    std::memcpy(ram.get(), rest + elf_size, ram_size);

    SymbolTable symbols = SymbolTable::from_elf({elf.get(), elf_size});
    GuestAddressSpace memory({ram.get(), ram_size}, {(flags & 1) != 0, cr3, (flags & 2) != 0});
    if (walk_frame_pointers(memory, rbp).size() > kMaxGuestBacktraceDepth)
        std::abort();  // the depth limit must hold whatever the chain
    std::string report = describe_guest_backtrace(memory, symbols, rip, rbp);
    if (report.empty())
        std::abort();
    if (auto physical = memory.translate(rip); physical && !(flags & 1) && *physical != rip)
        std::abort();  // paging off is the identity
    (void)symbols.lookup(rbp);
    return 0;
}
