// kernel_symbols.cpp: reading the embedded .delos.ksyms table.
#include "debug/kernel_symbols.h"

#include "abi/kernel_symbol_table.h"

namespace delos::kernel_symbols {

// Filled in after linking; zero (magic 0) in a kernel built without the tool.
[[gnu::section(".delos.ksyms"), gnu::used]] alignas(8) const unsigned char g_table[abi::kKernelSymbolsCapacity] = {1};

namespace {

Symbolizer g_external_symbolizer = nullptr;

const abi::KernelSymbolsHeader& header()
{
    // The compiler must not constant-fold the table: its contents change after linking.
    const unsigned char* table = g_table;
    asm("" : "+r"(table));
    return *reinterpret_cast<const abi::KernelSymbolsHeader*>(table);
}

bool valid() { return header().magic == abi::kKernelSymbolsMagic; }

const abi::KernelSymbolEntry* entries()
{
    return reinterpret_cast<const abi::KernelSymbolEntry*>(reinterpret_cast<const unsigned char*>(&header()) +
                                                           sizeof(abi::KernelSymbolsHeader));
}

StringView string_at(std::uint32_t offset)
{
    const char* strings = reinterpret_cast<const char*>(&header()) + header().strings_offset;
    if (offset >= header().strings_size)
        return StringView();
    return StringView(strings + offset);
}

Symbol make(const abi::KernelSymbolEntry& entry)
{
    return {entry.address, entry.size, string_at(entry.name_offset), string_at(entry.display_name_offset),
            (entry.flags & abi::kKernelSymbolExported) != 0};
}

} // namespace

std::size_t count() { return valid() ? header().symbol_count : 0; }

Symbol at(std::size_t index) { return make(entries()[index]); }

bool lookup(std::uint64_t address, Symbol& out)
{
    std::size_t n = count();
    if (n == 0)
        return false;
    const abi::KernelSymbolEntry* table = entries();
    // Last entry whose address <= address.
    std::size_t low = 0, high = n;
    while (low < high) {
        std::size_t middle = low + (high - low) / 2;
        if (table[middle].address <= address)
            low = middle + 1;
        else
            high = middle;
    }
    if (low == 0)
        return false;
    const auto& entry = table[low - 1];
    // Symbols of unknown size (assembly labels) cover up to the next symbol.
    std::uint64_t end = entry.size ? entry.address + entry.size : (low < n ? table[low].address : entry.address + 1);
    if (address >= end)
        return false;
    out = make(entry);
    return true;
}

bool find(StringView name, Symbol& out)
{
    if (!valid())
        return false;
    const auto* by_name = reinterpret_cast<const std::uint32_t*>(reinterpret_cast<const unsigned char*>(&header()) +
                                                                 header().name_index_offset);
    std::size_t low = 0, high = header().name_index_count;
    while (low < high) {
        std::size_t middle = low + (high - low) / 2;
        std::uint32_t index = by_name[middle];
        if (index >= header().symbol_count)
            return false;
        int order = string_at(entries()[index].name_offset).compare(name);
        if (order == 0) {
            out = make(entries()[index]);
            return true;
        }
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return false;
}

void set_external_symbolizer(Symbolizer symbolizer) { g_external_symbolizer = symbolizer; }

namespace {
SymbolizerQuiescent g_external_symbolizer_quiescent = nullptr;
}

void set_external_symbolizer_quiescent(SymbolizerQuiescent quiescent) { g_external_symbolizer_quiescent = quiescent; }
bool external_symbolizer_quiescent() { return !g_external_symbolizer_quiescent || g_external_symbolizer_quiescent(); }

bool symbolize(std::uint64_t address, Symbol& out, CodeOwner& owner)
{
    if (lookup(address, out)) {
        owner = {"kernel", StringView()};
        return true;
    }
    return g_external_symbolizer && g_external_symbolizer(address, out, owner);
}

bool symbolize(std::uint64_t address, Symbol& out, StringView& owner)
{
    CodeOwner code_owner;
    if (!symbolize(address, out, code_owner))
        return false;
    owner = code_owner.name;
    return true;
}

} // namespace delos::kernel_symbols
