// embed_kernel_symbols.cpp: copies a linked kernel and writes its own symbol table (sorted
// function and object symbols, mangled and demangled names) into its .delos.ksyms section, so
// the running kernel can symbolize backtraces and export its symbols to the cell linker.
#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "abi/kernel_symbol_table.h"
#include "lib/elf/elf_file.h"

using namespace delos::elf;
using delos::ByteView;
using delos::ErrorOr;
namespace kabi = delos::abi;

namespace {

[[noreturn]] void fail(const std::string& message)
{
    std::fprintf(stderr, "embed-kernel-symbols: %s\n", message.c_str());
    std::exit(1);
}

template <typename T>
T must(ErrorOr<T>&& result, const char* what)
{
    if (result.is_error())
        fail(std::string(what) + ": " + result.error().message);
    return result.release_value();
}

std::string demangle(const std::string& name)
{
    int status = 0;
    char* demangled = ::abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !demangled)
        return name;
    std::string result(demangled);
    std::free(demangled);
    return result;
}

struct Entry {
    std::uint64_t address;
    std::uint64_t size;
    std::string name;
    bool exported;
};

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3)
        fail("usage: delos-embed-kernel-symbols INPUT.elf OUTPUT.elf");
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (bytes.empty())
        fail(std::string("cannot read ") + argv[1]);

    auto file = must(ElfFile::parse(ByteView(bytes.data(), bytes.size())), "parsing the kernel");
    std::size_t table_index = must(file.find_section(kabi::kKernelSymbolsSection), "finding .delos.ksyms");
    Elf64_Shdr table = must(file.section(table_index), "reading .delos.ksyms");
    if (table.sh_type != SHT_PROGBITS || table.sh_size < kabi::kKernelSymbolsCapacity)
        fail(".delos.ksyms is not a PROGBITS section of the expected capacity");

    std::vector<Entry> entries;
    for (std::size_t i = 1; i < file.section_count(); ++i) {
        Elf64_Shdr section = must(file.section(i), "reading a section header");
        if (section.sh_type != SHT_SYMTAB)
            continue;
        ByteView symbols = must(file.section_contents(section), "reading .symtab");
        for (std::size_t offset = sizeof(Elf64_Sym); offset + sizeof(Elf64_Sym) <= symbols.size(); offset += sizeof(Elf64_Sym)) {
            Elf64_Sym symbol = must(symbols.read<Elf64_Sym>(offset), "reading a symbol");
            if ((symbol.type() != STT_FUNC && symbol.type() != STT_OBJECT && symbol.type() != STT_NOTYPE) ||
                symbol.st_shndx == SHN_UNDEF || symbol.st_shndx >= SHN_LORESERVE || symbol.st_name == 0)
                continue;
            auto view = must(file.string_at(section.sh_link, symbol.st_name), "reading a symbol name");
            std::string name(view.data(), view.size());
            if (name.starts_with(".L"))
                continue;  // assembler-local labels
            bool exported = (symbol.binding() == STB_GLOBAL || symbol.binding() == STB_WEAK) &&
                            symbol.visibility() == STV_DEFAULT;
            entries.push_back({symbol.st_value, symbol.st_size, name, exported});
        }
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.address != b.address ? a.address < b.address : a.exported > b.exported;
    });

    std::string strings(1, '\0');
    std::unordered_map<std::string, std::uint32_t> interned;
    auto intern = [&](const std::string& text) {
        auto [it, fresh] = interned.emplace(text, static_cast<std::uint32_t>(strings.size()));
        if (fresh) {
            strings += text;
            strings.push_back('\0');
        }
        return it->second;
    };
    std::vector<kabi::KernelSymbolEntry> table_entries;
    for (const auto& entry : entries)
        table_entries.push_back({entry.address, static_cast<std::uint32_t>(entry.size), intern(entry.name),
                                 intern(demangle(entry.name)), entry.exported ? kabi::kKernelSymbolExported : 0u});

    // Exported symbols by name, for the cell linker's lookups (binary search, no heap copies).
    std::vector<std::uint32_t> by_name;
    for (std::uint32_t i = 0; i < entries.size(); ++i) {
        if (entries[i].exported)
            by_name.push_back(i);
    }
    std::sort(by_name.begin(), by_name.end(), [&](std::uint32_t a, std::uint32_t b) { return entries[a].name < entries[b].name; });
    by_name.erase(std::unique(by_name.begin(), by_name.end(),
                              [&](std::uint32_t a, std::uint32_t b) { return entries[a].name == entries[b].name; }),
                  by_name.end());

    kabi::KernelSymbolsHeader header{};
    header.magic = kabi::kKernelSymbolsMagic;
    header.symbol_count = static_cast<std::uint32_t>(table_entries.size());
    header.strings_offset = static_cast<std::uint32_t>(sizeof header + table_entries.size() * sizeof(kabi::KernelSymbolEntry));
    header.strings_size = static_cast<std::uint32_t>(strings.size());
    header.name_index_offset = static_cast<std::uint32_t>((header.strings_offset + strings.size() + 3) & ~std::size_t(3));
    header.name_index_count = static_cast<std::uint32_t>(by_name.size());
    std::size_t needed = header.name_index_offset + by_name.size() * sizeof(std::uint32_t);
    if (needed > kabi::kKernelSymbolsCapacity)
        fail("the symbol table needs " + std::to_string(needed) + " bytes; raise kKernelSymbolsCapacity (" +
             std::to_string(kabi::kKernelSymbolsCapacity) + ")");

    std::uint8_t* out = bytes.data() + table.sh_offset;
    std::memset(out, 0, kabi::kKernelSymbolsCapacity);
    std::memcpy(out, &header, sizeof header);
    std::memcpy(out + sizeof header, table_entries.data(), table_entries.size() * sizeof(kabi::KernelSymbolEntry));
    std::memcpy(out + header.strings_offset, strings.data(), strings.size());
    std::memcpy(out + header.name_index_offset, by_name.data(), by_name.size() * sizeof(std::uint32_t));

    std::ofstream output(argv[2], std::ios::binary | std::ios::trunc);
    output.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!output)
        fail(std::string("cannot write ") + argv[2]);
    std::printf("embed-kernel-symbols: %zu symbols, %zu bytes of %u\n", table_entries.size(), needed,
                kabi::kKernelSymbolsCapacity);
    return 0;
}
