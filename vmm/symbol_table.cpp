// symbol_table.cpp: reading .symtab through the guest's checked ElfFile; demangling with the C++ ABI.
#include "symbol_table.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>

#include "lib/elf/elf_file.h"

namespace delos::vmm {

namespace {

std::string demangle(const std::string& name)
{
    int status = 0;
    char* readable = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !readable)
        return name;
    std::string result = readable;
    std::free(readable);
    return result;
}

} // namespace

SymbolTable SymbolTable::from_elf(std::span<const std::uint8_t> elf_file)
{
    SymbolTable table;
    auto parsed = elf::ElfFile::parse(ByteView(elf_file.data(), elf_file.size()));
    if (parsed.is_error())
        return table;
    const elf::ElfFile& file = parsed.value();
    for (std::size_t index = 0; index < file.section_count(); ++index) {
        auto section = file.section(index);
        if (section.is_error() || section->sh_type != elf::SHT_SYMTAB || section->sh_entsize != sizeof(elf::Elf64_Sym))
            continue;
        auto contents = file.section_contents(section.value());
        if (contents.is_error())
            continue;
        std::size_t count = contents->size() / sizeof(elf::Elf64_Sym);
        for (std::size_t i = 0; i < count; ++i) {
            auto symbol = contents->read<elf::Elf64_Sym>(i * sizeof(elf::Elf64_Sym));
            if (symbol.is_error())
                break;
            std::uint8_t type = symbol->type();
            if ((type != elf::STT_FUNC && type != elf::STT_OBJECT) || symbol->st_size == 0 ||
                symbol->st_value + symbol->st_size < symbol->st_value)
                continue;
            auto name = file.string_at(section->sh_link, symbol->st_name);
            if (name.is_error() || name->empty())
                continue;
            table.m_symbols.push_back(
                {symbol->st_value, symbol->st_size, demangle(std::string(name->data(), name->size()))});
        }
    }
    std::ranges::sort(table.m_symbols, [](const Symbol& a, const Symbol& b) {
        return a.address != b.address ? a.address < b.address : a.size > b.size;
    });
    return table;
}

std::optional<SymbolTable::Match> SymbolTable::lookup(std::uint64_t address) const
{
    // The last symbol starting at or below `address`; symbols may nest (aliases, local labels),
    // so look back a little for one that contains it.
    auto after = std::ranges::upper_bound(m_symbols, address, {}, &Symbol::address);
    for (int back = 0; back < 8 && after != m_symbols.begin(); ++back) {
        --after;
        if (address - after->address < after->size)
            return Match{after->name, address - after->address};
    }
    return std::nullopt;
}

std::optional<std::uint64_t> SymbolTable::address_of(const std::string& prefix) const
{
    for (const Symbol& symbol : m_symbols) {
        if (symbol.name.starts_with(prefix))
            return symbol.address;
    }
    return std::nullopt;
}

} // namespace delos::vmm
