// symbol_table.h: function and object symbols from an ELF's .symtab, for naming addresses in
// delos-vmm's crash reports (the kernel file is the VMM's own input; the guest is not asked).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace delos::vmm {

class SymbolTable {
public:
    struct Match {
        std::string name;  // demangled when it is a C++ name
        std::uint64_t offset;
    };

    // The sized STT_FUNC/STT_OBJECT symbols of `elf_file`'s SHT_SYMTAB; empty if there is none or
    // the file is malformed (a crash report then shows bare addresses).
    static SymbolTable from_elf(std::span<const std::uint8_t> elf_file);

    // The symbol whose [address, address + size) holds `address`.
    std::optional<Match> lookup(std::uint64_t address) const;
    // The address of the first symbol whose (demangled) name starts with `prefix`.
    std::optional<std::uint64_t> address_of(const std::string& prefix) const;
    std::size_t size() const { return m_symbols.size(); }

private:
    struct Symbol {
        std::uint64_t address;
        std::uint64_t size;
        std::string name;
    };
    std::vector<Symbol> m_symbols;  // sorted by address
};

} // namespace delos::vmm
