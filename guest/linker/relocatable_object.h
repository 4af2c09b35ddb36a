// relocatable_object.h: a checked reader for x86-64 ELF relocatable objects (ET_REL), the
// form every cell takes. parse() validates every index before anything else may use it:
// section links, symbol sections (including SHN_XINDEX), string offsets, group members,
// relocation symbol indexes and relocation offsets. Views point into the object's bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/elf/elf64.h"
#include "lib/elf/elf_file.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::link {

inline constexpr std::uint32_t kNoSection = 0;
// Largest section alignment we accept; anything larger is almost certainly corrupt.
inline constexpr std::uint64_t kMaxSectionAlignment = 1ull << 21;

struct ObjectSection {
    std::uint32_t index = 0;
    StringView name;
    elf::Elf64_Word type = elf::SHT_NULL;
    elf::Elf64_Xword flags = 0;
    std::uint64_t size = 0;
    std::uint64_t alignment = 1;   // >= 1 and a power of two
    ByteView contents;             // empty for SHT_NOBITS
    std::uint32_t group = kNoSection;  // the SHT_GROUP section it belongs to, if any

    bool is_allocated() const { return flags & elf::SHF_ALLOC; }
    // What the linker places in memory: allocated sections that hold code or data (a hostile
    // SHF_ALLOC on a null or group section is ignored rather than trusted).
    bool is_loadable() const { return is_allocated() && type != elf::SHT_NULL && type != elf::SHT_GROUP; }
};

// Where a symbol is defined, with SHN_XINDEX already resolved.
enum class SymbolPlace : std::uint8_t { Undefined, Section, Absolute, Common };

struct ObjectSymbol {
    StringView name;
    std::uint8_t binding = elf::STB_LOCAL;
    std::uint8_t type = elf::STT_NOTYPE;
    std::uint8_t visibility = elf::STV_DEFAULT;
    SymbolPlace place = SymbolPlace::Undefined;
    std::uint32_t section = kNoSection;  // valid when place == Section
    std::uint64_t value = 0;             // offset inside `section` (checked <= its size)
    std::uint64_t size = 0;

    bool is_defined() const { return place == SymbolPlace::Section || place == SymbolPlace::Absolute; }
    bool is_global_or_weak() const
    {
        return binding == elf::STB_GLOBAL || binding == elf::STB_WEAK || binding == elf::STB_GNU_UNIQUE;
    }
};

struct ObjectRelocation {
    std::uint64_t offset = 0;        // inside the target section, checked against its size
    std::uint32_t type = 0;          // R_X86_64_*; not checked here (the relocator refuses unknown ones)
    std::uint32_t symbol = 0;        // index into the symbol table, checked
    std::int64_t addend = 0;
};

// One SHT_RELA section and the section its entries patch.
struct RelocationSection {
    std::uint32_t index = 0;
    std::uint32_t target = 0;
    ByteView entries;

    std::size_t count() const { return entries.size() / sizeof(elf::Elf64_Rela); }
    // Entries were validated by parse(); this only decodes entry `i` (i < count()).
    ObjectRelocation at(std::size_t i) const;
};

struct SectionGroup {
    std::uint32_t index = 0;
    bool is_comdat = false;
    StringView signature;
    Vector<std::uint32_t> members;
};

// The bytes a relocation of `type` patches, or 0 if the type is unknown or patches nothing.
std::uint64_t relocation_width(std::uint32_t type);

class RelocatableObject {
public:
    static ErrorOr<RelocatableObject> parse(ByteView bytes);

    ByteView bytes() const { return m_bytes; }
    // Index 0 is the null section; every other index names a real section.
    const Vector<ObjectSection>& sections() const { return m_sections; }
    const ObjectSection& section(std::uint32_t index) const { return m_sections[index]; }
    // Index 0 is the null symbol.
    const Vector<ObjectSymbol>& symbols() const { return m_symbols; }
    const Vector<RelocationSection>& relocation_sections() const { return m_relocation_sections; }
    const Vector<SectionGroup>& groups() const { return m_groups; }
    // The section named `name`, or kNoSection.
    std::uint32_t find_section(StringView name) const;

private:
    RelocatableObject() = default;
    ErrorOr<void> read_sections(const elf::ElfFile&);
    ErrorOr<void> read_symbols(const elf::ElfFile&);
    ErrorOr<void> read_groups(const elf::ElfFile&);
    ErrorOr<void> read_relocations(const elf::ElfFile&);

    ByteView m_bytes;
    Vector<ObjectSection> m_sections;
    Vector<ObjectSymbol> m_symbols;
    std::uint32_t m_symbol_table = kNoSection;
    Vector<RelocationSection> m_relocation_sections;
    Vector<SectionGroup> m_groups;
};

} // namespace delos::link
