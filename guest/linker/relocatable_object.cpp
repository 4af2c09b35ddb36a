// relocatable_object.cpp: reading and validating the sections, symbols, groups and RELA
// entries of an ET_REL object.
#include "linker/relocatable_object.h"

#include <utility>

namespace delos::link {

using namespace elf;

namespace {

// Bounds that no real cell comes near; they keep hostile counts from driving huge loops.
constexpr std::size_t kMaxSections = 1u << 20;
constexpr std::size_t kMaxSymbols = 1u << 22;

bool is_power_of_two(std::uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

} // namespace

std::uint64_t relocation_width(std::uint32_t type)
{
    switch (type) {
    case R_X86_64_64:
    case R_X86_64_PC64:
        return 8;
    case R_X86_64_PC32:
    case R_X86_64_PLT32:
    case R_X86_64_32:
    case R_X86_64_32S:
    case R_X86_64_GOTPCREL:
    case R_X86_64_GOTPCRELX:
    case R_X86_64_REX_GOTPCRELX:
        return 4;
    default:
        return 0;
    }
}

ObjectRelocation RelocationSection::at(std::size_t i) const
{
    Elf64_Rela rela;
    __builtin_memcpy(&rela, entries.data() + i * sizeof(Elf64_Rela), sizeof rela);
    return ObjectRelocation{rela.r_offset, rela.type(), rela.symbol(), rela.r_addend};
}

ErrorOr<RelocatableObject> RelocatableObject::parse(ByteView bytes)
{
    auto file = TRY(ElfFile::parse(bytes));
    if (file.header().e_type != ET_REL)
        return Error::make(ErrorCode::Unsupported, "not a relocatable object (e_type is not ET_REL)", file.header().e_type);
    if (file.section_count() == 0)
        return Error::make(ErrorCode::Malformed, "relocatable object has no section header table");
    if (file.section_count() > kMaxSections)
        return Error::make(ErrorCode::Unsupported, "relocatable object has too many sections", file.section_count());

    RelocatableObject object;
    object.m_bytes = bytes;
    TRY(object.read_sections(file));
    TRY(object.read_symbols(file));
    TRY(object.read_groups(file));
    TRY(object.read_relocations(file));
    return object;
}

std::uint32_t RelocatableObject::find_section(StringView name) const
{
    for (const ObjectSection& section : m_sections) {
        if (section.index != kNoSection && section.name == name)
            return section.index;
    }
    return kNoSection;
}

ErrorOr<void> RelocatableObject::read_sections(const ElfFile& file)
{
    m_sections.reserve(file.section_count());
    m_sections.append(ObjectSection{});
    for (std::size_t i = 1; i < file.section_count(); ++i) {
        Elf64_Shdr header = TRY(file.section(i));
        ObjectSection section;
        section.index = static_cast<std::uint32_t>(i);
        auto name = file.section_name(header);
        if (name.is_error())
            return Error::make(name.error().code, "section name is not a valid string in the section name table", i);
        section.name = name.value();
        section.type = header.sh_type;
        section.flags = header.sh_flags;
        section.size = header.sh_size;
        if (header.sh_type == SHT_REL)
            return Error::make(ErrorCode::Unsupported, "SHT_REL sections (relocations without addends) are not supported on x86-64", i);
        section.alignment = header.sh_addralign == 0 ? 1 : header.sh_addralign;
        if (!is_power_of_two(section.alignment))
            return Error::make(ErrorCode::Malformed, "section alignment is not a power of two", section.alignment);
        if (section.alignment > kMaxSectionAlignment)
            return Error::make(ErrorCode::Unsupported, "section alignment is larger than 2 MiB", section.alignment);
        if (header.sh_type != SHT_NOBITS && header.sh_type != SHT_NULL) {
            auto contents = file.section_contents(header);
            if (contents.is_error())
                return Error::make(ErrorCode::OutOfRange, "section contents lie outside the file", i);
            section.contents = contents.value();
        }
        m_sections.append(section);
    }
    return {};
}

ErrorOr<void> RelocatableObject::read_symbols(const ElfFile& file)
{
    std::uint32_t extended_indexes = kNoSection;
    for (const ObjectSection& section : m_sections) {
        if (section.type == SHT_SYMTAB) {
            if (m_symbol_table != kNoSection)
                return Error::make(ErrorCode::Malformed, "object has more than one symbol table", section.index);
            m_symbol_table = section.index;
        }
    }
    if (m_symbol_table == kNoSection)
        return {};  // legal (nothing to link); relocations would need one and are checked later

    Elf64_Shdr table = TRY(file.section(m_symbol_table));
    if (table.sh_entsize != sizeof(Elf64_Sym))
        return Error::make(ErrorCode::Malformed, "symbol table entry size is not 24", table.sh_entsize);
    if (table.sh_size % sizeof(Elf64_Sym) != 0)
        return Error::make(ErrorCode::Malformed, "symbol table size is not a multiple of 24", table.sh_size);
    std::size_t count = static_cast<std::size_t>(table.sh_size / sizeof(Elf64_Sym));
    if (count > kMaxSymbols)
        return Error::make(ErrorCode::Unsupported, "symbol table has too many entries", count);
    if (table.sh_link == 0 || table.sh_link >= m_sections.size() || m_sections[table.sh_link].type != SHT_STRTAB)
        return Error::make(ErrorCode::Malformed, "symbol table's sh_link is not a string table", table.sh_link);
    if (table.sh_info > count)
        return Error::make(ErrorCode::OutOfRange, "symbol table's first-global index exceeds its size", table.sh_info);

    for (const ObjectSection& section : m_sections) {
        if (section.type != SHT_SYMTAB_SHNDX)
            continue;
        Elf64_Shdr header = TRY(file.section(section.index));
        if (header.sh_link != m_symbol_table)
            continue;  // belongs to no table we read
        if (extended_indexes != kNoSection)
            return Error::make(ErrorCode::Malformed, "symbol table has more than one SHT_SYMTAB_SHNDX section", section.index);
        if (section.size / sizeof(Elf64_Word) < count)
            return Error::make(ErrorCode::Malformed, "SHT_SYMTAB_SHNDX section is shorter than the symbol table", section.size);
        extended_indexes = section.index;
    }

    ByteView entries = m_sections[m_symbol_table].contents;
    m_symbols.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        Elf64_Sym raw = TRY(entries.read<Elf64_Sym>(i * sizeof(Elf64_Sym)));
        ObjectSymbol symbol;
        if (raw.st_name != 0) {
            auto name = file.string_at(table.sh_link, raw.st_name);
            if (name.is_error())
                return Error::make(name.error().code, "symbol name is not a valid string in the symbol string table", i);
            symbol.name = name.value();
        }
        symbol.binding = raw.binding();
        symbol.type = raw.type();
        symbol.visibility = raw.visibility();
        symbol.value = raw.st_value;
        symbol.size = raw.st_size;

        std::uint32_t section_index = raw.st_shndx;
        if (raw.st_shndx == SHN_XINDEX) {
            if (extended_indexes == kNoSection)
                return Error::make(ErrorCode::Malformed, "symbol uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section", i);
            section_index = TRY(m_sections[extended_indexes].contents.read<Elf64_Word>(i * sizeof(Elf64_Word)));
            if (section_index == kNoSection)
                return Error::make(ErrorCode::Malformed, "SHN_XINDEX symbol's extended section index is zero", i);
        } else if (raw.st_shndx == SHN_UNDEF) {
            symbol.place = SymbolPlace::Undefined;
        } else if (raw.st_shndx == SHN_ABS) {
            symbol.place = SymbolPlace::Absolute;
        } else if (raw.st_shndx == SHN_COMMON) {
            symbol.place = SymbolPlace::Common;
        } else if (raw.st_shndx >= SHN_LORESERVE) {
            return Error::make(ErrorCode::Unsupported, "symbol is defined in a reserved section index", raw.st_shndx);
        }
        if (raw.st_shndx == SHN_XINDEX || (raw.st_shndx != SHN_UNDEF && raw.st_shndx < SHN_LORESERVE)) {
            if (section_index >= m_sections.size())
                return Error::make(ErrorCode::OutOfRange, "symbol's section index is out of range", section_index);
            if (symbol.value > m_sections[section_index].size)
                return Error::make(ErrorCode::OutOfRange, "symbol value lies beyond the end of its section", i);
            symbol.place = SymbolPlace::Section;
            symbol.section = section_index;
        }
        m_symbols.append(symbol);
    }
    return {};
}

ErrorOr<void> RelocatableObject::read_groups(const ElfFile& file)
{
    for (const ObjectSection& section : m_sections) {
        if (section.type != SHT_GROUP)
            continue;
        Elf64_Shdr header = TRY(file.section(section.index));
        if (m_symbol_table == kNoSection || header.sh_link != m_symbol_table)
            return Error::make(ErrorCode::Malformed, "section group's sh_link is not the symbol table", header.sh_link);
        if (header.sh_info >= m_symbols.size())
            return Error::make(ErrorCode::OutOfRange, "section group's signature symbol index is out of range", header.sh_info);
        if (section.size < sizeof(Elf64_Word) || section.size % sizeof(Elf64_Word) != 0)
            return Error::make(ErrorCode::Malformed, "section group size is not a positive multiple of 4", section.size);
        SectionGroup group;
        group.index = section.index;
        group.signature = m_symbols[header.sh_info].name;
        group.is_comdat = TRY(section.contents.read<Elf64_Word>(0)) & GRP_COMDAT;
        for (std::uint64_t offset = sizeof(Elf64_Word); offset < section.size; offset += sizeof(Elf64_Word)) {
            Elf64_Word member = TRY(section.contents.read<Elf64_Word>(offset));
            if (member == kNoSection || member >= m_sections.size() || member == section.index)
                return Error::make(ErrorCode::OutOfRange, "section group member index is out of range", member);
            if (m_sections[member].group != kNoSection)
                return Error::make(ErrorCode::Malformed, "section belongs to more than one group", member);
            m_sections[member].group = section.index;
            group.members.append(member);
        }
        m_groups.append(std::move(group));
    }
    return {};
}

ErrorOr<void> RelocatableObject::read_relocations(const ElfFile& file)
{
    for (const ObjectSection& section : m_sections) {
        if (section.type != SHT_RELA)
            continue;
        Elf64_Shdr header = TRY(file.section(section.index));
        if (m_symbol_table == kNoSection || header.sh_link != m_symbol_table)
            return Error::make(ErrorCode::Malformed, "relocation section's sh_link is not the symbol table", header.sh_link);
        if (header.sh_entsize != sizeof(Elf64_Rela))
            return Error::make(ErrorCode::Malformed, "relocation entry size is not 24", header.sh_entsize);
        if (section.size % sizeof(Elf64_Rela) != 0)
            return Error::make(ErrorCode::Malformed, "relocation section size is not a multiple of 24", section.size);
        std::uint32_t target = header.sh_info;
        if (target == kNoSection || target >= m_sections.size())
            return Error::make(ErrorCode::OutOfRange, "relocation section's target section index is out of range", target);
        const ObjectSection& patched = m_sections[target];
        if (patched.type == SHT_RELA || patched.type == SHT_SYMTAB || patched.type == SHT_STRTAB
            || patched.type == SHT_GROUP || patched.type == SHT_SYMTAB_SHNDX || patched.type == SHT_NULL)
            return Error::make(ErrorCode::Malformed, "relocation section targets a section that holds no code or data", target);

        RelocationSection relocations{section.index, target, section.contents};
        if (relocations.count() > 0 && patched.type == SHT_NOBITS)
            return Error::make(ErrorCode::Malformed, "relocations patch a section without contents (SHT_NOBITS)", target);
        for (std::size_t i = 0; i < relocations.count(); ++i) {
            ObjectRelocation relocation = relocations.at(i);
            if (relocation.symbol >= m_symbols.size())
                return Error::make(ErrorCode::OutOfRange, "relocation's symbol index is out of range", relocation.symbol);
            std::uint64_t width = relocation_width(relocation.type);
            if (relocation.offset > patched.size || width > patched.size - relocation.offset)
                return Error::make(ErrorCode::OutOfRange, "relocation offset lies outside its target section", relocation.offset);
        }
        m_relocation_sections.append(relocations);
    }
    return {};
}

} // namespace delos::link
