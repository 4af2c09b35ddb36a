// object_file_test.cpp: the ET_REL reader reads a real cell's sections, symbols, COMDAT groups,
// relocations and cell record, resolves SHN_XINDEX, and refuses bad indexes precisely.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "lib/elf/elf64.h"
#include "linker/cell_identity.h"
#include "linker/cell_info.h"
#include "linker/export_rule.h"
#include "linker/relocatable_object.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::link;
using namespace delos::host;
using namespace delos::elf;

namespace {

ErrorOr<RelocatableObject> parse(const Bytes& bytes) { return RelocatableObject::parse(view(bytes)); }

Error parse_error(const Bytes& bytes)
{
    auto parsed = parse(bytes);
    EXPECT_TRUE(parsed.is_error()) << "object was accepted";
    return parsed.is_error() ? parsed.error() : Error{};
}

const ObjectSymbol* find_symbol(const RelocatableObject& object, const char* name)
{
    for (const ObjectSymbol& symbol : object.symbols()) {
        if (symbol.name == name)
            return &symbol;
    }
    return nullptr;
}

// Appends a section (contents and header) by moving the section header table to the end.
std::size_t append_section(ElfEditor& editor, Elf64_Shdr header, const Bytes& contents)
{
    Bytes& bytes = editor.bytes();
    while (bytes.size() % 8)
        bytes.push_back(0);
    header.sh_offset = bytes.size();
    header.sh_size = contents.size();
    bytes.insert(bytes.end(), contents.begin(), contents.end());
    while (bytes.size() % 8)
        bytes.push_back(0);
    std::size_t count = editor.header().e_shnum;
    Bytes table(bytes.begin() + static_cast<std::ptrdiff_t>(editor.header().e_shoff),
                bytes.begin() + static_cast<std::ptrdiff_t>(editor.header().e_shoff + count * sizeof(Elf64_Shdr)));
    std::size_t new_offset = bytes.size();
    bytes.insert(bytes.end(), table.begin(), table.end());
    bytes.insert(bytes.end(), reinterpret_cast<const std::uint8_t*>(&header),
                 reinterpret_cast<const std::uint8_t*>(&header) + sizeof header);
    editor.header().e_shoff = new_offset;
    editor.header().e_shnum = static_cast<Elf64_Half>(count + 1);
    return count;
}

} // namespace

TEST(ObjectFile, ReadsARealCell)
{
    Bytes bytes = cell_bytes("kv");
    auto object = parse(bytes);
    ASSERT_FALSE(object.is_error()) << object.error().message;

    std::uint32_t record = object->find_section(".delos.cell");
    ASSERT_NE(record, kNoSection);
    EXPECT_EQ(object->section(record).size, sizeof(CellInfo));
    EXPECT_TRUE(object->section(record).is_allocated());

    const ObjectSymbol* size = find_symbol(object.value(), "_ZN5delos2kv4sizeEv");
    ASSERT_NE(size, nullptr);
    EXPECT_EQ(size->place, SymbolPlace::Section);
    EXPECT_EQ(size->binding, STB_GLOBAL);
    EXPECT_EQ(size->type, STT_FUNC);
    EXPECT_EQ(str(object->section(size->section).name), ".text._ZN5delos2kv4sizeEv");
    EXPECT_TRUE(is_exported_symbol(object.value(), *size));

    const ObjectSymbol* imported = find_symbol(object.value(), "_ZN5delos3log5writeENS0_5LevelENS_10StringViewES2_");
    ASSERT_NE(imported, nullptr);
    EXPECT_EQ(imported->place, SymbolPlace::Undefined);
    EXPECT_FALSE(is_exported_symbol(object.value(), *imported));

    const ObjectSymbol* record_symbol = find_symbol(object.value(), "delos_cell_info");
    ASSERT_NE(record_symbol, nullptr);
    EXPECT_EQ(record_symbol->visibility, STV_HIDDEN);
    EXPECT_FALSE(is_exported_symbol(object.value(), *record_symbol));

    // Inline functions from shared headers come in COMDAT groups and are not exported.
    bool found_group = false;
    for (const SectionGroup& group : object->groups()) {
        if (group.signature != "_ZN5delos10StringSink5writeENS_10StringViewE")
            continue;
        found_group = true;
        EXPECT_TRUE(group.is_comdat);
        bool holds_text = false;
        for (std::uint32_t member : group.members) {
            EXPECT_EQ(object->section(member).group, group.index);
            holds_text |= object->section(member).name == ".text._ZN5delos10StringSink5writeENS_10StringViewE";
        }
        EXPECT_TRUE(holds_text);
    }
    EXPECT_TRUE(found_group);
    const ObjectSymbol* inline_function = find_symbol(object.value(), "_ZN5delos10StringSink5writeENS_10StringViewE");
    ASSERT_NE(inline_function, nullptr);
    EXPECT_EQ(inline_function->binding, STB_WEAK);
    EXPECT_FALSE(is_exported_symbol(object.value(), *inline_function));

    bool eh_frame_relocated = false;
    for (const RelocationSection& relocations : object->relocation_sections()) {
        ASSERT_LT(relocations.target, object->sections().size());
        eh_frame_relocated |= object->section(relocations.target).name == ".eh_frame" && relocations.count() > 0;
        for (std::size_t i = 0; i < relocations.count(); ++i)
            EXPECT_LT(relocations.at(i).symbol, object->symbols().size());
    }
    EXPECT_TRUE(eh_frame_relocated);

    auto identity = read_cell_identity(object.value());
    ASSERT_FALSE(identity.is_error()) << identity.error().message;
    EXPECT_EQ(str(identity->name), "kv");
    EXPECT_EQ(str(identity->version), "1.2.0");
    EXPECT_EQ(identity->section, record);
}

TEST(ObjectFile, EveryBuiltCellHasItsFolderName)
{
    for (const char* cell : {"log", "kv", "counter", "hello", "reloc_probe", "cycle_ping", "cycle_pong", "init_fails", "ctor_order"}) {
        Bytes bytes = cell_bytes(cell);
        auto object = parse(bytes);
        ASSERT_FALSE(object.is_error()) << cell;
        auto identity = read_cell_identity(object.value());
        ASSERT_FALSE(identity.is_error()) << cell;
        EXPECT_EQ(str(identity->name), cell);
    }
}

TEST(ObjectFile, ResolvesExtendedSectionIndexes)
{
    ElfEditor editor(cell_bytes("kv"));
    std::size_t symtab = editor.find_section_of_type(SHT_SYMTAB);
    std::size_t count = editor.symbol_count();
    std::size_t target = editor.find_symbol("_ZN5delos2kv4sizeEv");
    std::uint16_t real_section = editor.symbol(target).st_shndx;

    Bytes indexes(count * 4, 0);
    std::uint32_t extended = real_section;
    std::memcpy(indexes.data() + target * 4, &extended, 4);
    Elf64_Shdr header{};
    header.sh_type = SHT_SYMTAB_SHNDX;
    header.sh_link = static_cast<Elf64_Word>(symtab);
    header.sh_entsize = 4;
    header.sh_addralign = 4;
    append_section(editor, header, indexes);
    editor.symbol(target).st_shndx = SHN_XINDEX;

    auto object = parse(editor.bytes());
    ASSERT_FALSE(object.is_error()) << object.error().message;
    const ObjectSymbol* size = find_symbol(object.value(), "_ZN5delos2kv4sizeEv");
    ASSERT_NE(size, nullptr);
    EXPECT_EQ(size->place, SymbolPlace::Section);
    EXPECT_EQ(size->section, real_section);

    // A zero or out-of-range extended index is refused.
    std::size_t table = editor.section_count() - 1;
    std::uint32_t zero = 0;
    std::memcpy(editor.contents(table) + target * 4, &zero, 4);
    EXPECT_STREQ(parse_error(editor.bytes()).message, "SHN_XINDEX symbol's extended section index is zero");
    std::uint32_t huge = 70000;
    std::memcpy(editor.contents(table) + target * 4, &huge, 4);
    Error out_of_range = parse_error(editor.bytes());
    EXPECT_EQ(out_of_range.code, ErrorCode::OutOfRange);
    EXPECT_EQ(out_of_range.value, 70000u);

    ElfEditor without_table(cell_bytes("kv"));
    without_table.symbol(without_table.find_symbol("_ZN5delos2kv4sizeEv")).st_shndx = SHN_XINDEX;
    EXPECT_STREQ(parse_error(without_table.bytes()).message,
                 "symbol uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section");
}

TEST(ObjectFile, RefusesMalformedSectionsAndTables)
{
    {
        ElfEditor editor(cell_bytes("kv"));
        std::size_t rela = editor.relocations_for(editor.find_section(".text._ZN5delos2kv4sizeEv"));
        editor.section(rela).sh_type = SHT_REL;
        Error error = parse_error(editor.bytes());
        EXPECT_EQ(error.code, ErrorCode::Unsupported);
        EXPECT_EQ(error.value, rela);
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.section(editor.find_section(".delos.cell")).sh_addralign = 24;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "section alignment is not a power of two");
        editor.section(editor.find_section(".delos.cell")).sh_addralign = 1ull << 30;
        EXPECT_EQ(parse_error(editor.bytes()).code, ErrorCode::Unsupported);
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.section(editor.find_section(".delos.cell")).sh_offset = editor.bytes().size() - 8;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "section contents lie outside the file");
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.section(editor.find_section(".delos.cell")).sh_type = SHT_SYMTAB;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "object has more than one symbol table");
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.section(editor.find_section_of_type(SHT_SYMTAB)).sh_entsize = 16;
        EXPECT_EQ(parse_error(editor.bytes()).value, 16u);
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.section(editor.find_section_of_type(SHT_SYMTAB)).sh_info = 1000000;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "symbol table's first-global index exceeds its size");
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.symbol(editor.find_symbol("_ZN5delos2kv4sizeEv")).st_value = 1u << 20;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "symbol value lies beyond the end of its section");
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        editor.symbol(editor.find_symbol("_ZN5delos2kv4sizeEv")).st_name = 0x7fffffff;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "symbol name is not a valid string in the symbol string table");
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        std::size_t rela = editor.relocations_for(editor.find_section(".text._ZN5delos2kv4sizeEv"));
        editor.section(rela).sh_entsize = 16;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "relocation entry size is not 24");
        editor.section(rela).sh_entsize = 24;
        editor.section(rela).sh_size -= 1;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "relocation section size is not a multiple of 24");
        editor.section(rela).sh_size += 1;
        editor.section(rela).sh_link = 1;
        EXPECT_STREQ(parse_error(editor.bytes()).message, "relocation section's sh_link is not the symbol table");
        editor.section(rela).sh_link = static_cast<Elf64_Word>(editor.find_section_of_type(SHT_SYMTAB));
        editor.section(rela).sh_info = static_cast<Elf64_Word>(editor.find_section_of_type(SHT_SYMTAB));
        EXPECT_STREQ(parse_error(editor.bytes()).message, "relocation section targets a section that holds no code or data");
    }
    {
        ElfEditor editor(cell_bytes("kv"));
        std::size_t bss = 0;
        for (std::size_t i = 1; i < editor.section_count(); ++i) {
            if (editor.section(i).sh_type == SHT_NOBITS && editor.section(i).sh_size > 0)
                bss = i;
        }
        ASSERT_NE(bss, 0u);
        editor.section(editor.relocations_for(editor.find_section(".text._ZN5delos2kv4sizeEv"))).sh_info = static_cast<Elf64_Word>(bss);
        EXPECT_STREQ(parse_error(editor.bytes()).message, "relocations patch a section without contents (SHT_NOBITS)");
    }
}

TEST(ObjectFile, RefusesBadGroups)
{
    ElfEditor editor(cell_bytes("kv"));
    std::size_t group = editor.find_section_of_type(SHT_GROUP);
    std::uint32_t member;
    std::memcpy(&member, editor.contents(group) + 4, 4);

    std::uint32_t bad = 50000;
    std::memcpy(editor.contents(group) + 4, &bad, 4);
    Error out_of_range = parse_error(editor.bytes());
    EXPECT_STREQ(out_of_range.message, "section group member index is out of range");
    EXPECT_EQ(out_of_range.value, 50000u);

    std::uint32_t self = static_cast<std::uint32_t>(group);
    std::memcpy(editor.contents(group) + 4, &self, 4);
    EXPECT_EQ(parse_error(editor.bytes()).code, ErrorCode::OutOfRange);
    std::memcpy(editor.contents(group) + 4, &member, 4);

    editor.section(group).sh_info = 1000000;
    EXPECT_STREQ(parse_error(editor.bytes()).message, "section group's signature symbol index is out of range");
    editor.section(group).sh_info = 1;
    editor.section(group).sh_size = 6;
    EXPECT_STREQ(parse_error(editor.bytes()).message, "section group size is not a positive multiple of 4");

    // Two groups claiming one section.
    ElfEditor twice(cell_bytes("kv"));
    std::size_t first = twice.find_section_of_type(SHT_GROUP);
    std::size_t second = 0;
    for (std::size_t i = first + 1; i < twice.section_count() && !second; ++i) {
        if (twice.section(i).sh_type == SHT_GROUP)
            second = i;
    }
    ASSERT_NE(second, 0u);
    std::memcpy(twice.contents(second) + 4, twice.contents(first) + 4, 4);
    EXPECT_STREQ(parse_error(twice.bytes()).message, "section belongs to more than one group");
}

TEST(ObjectFile, AMinimalObjectWithoutSymbolsParses)
{
    // ELF header, a null section and a section-name table: nothing to link, but valid.
    Bytes bytes(sizeof(Elf64_Ehdr), 0);
    Elf64_Ehdr header{};
    std::memcpy(header.e_ident, kMagic, 4);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_REL;
    header.e_machine = EM_X86_64;
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_shentsize = sizeof(Elf64_Shdr);
    const char names[] = "\0.shstrtab";
    std::size_t names_offset = bytes.size();
    bytes.insert(bytes.end(), names, names + sizeof names);
    while (bytes.size() % 8)
        bytes.push_back(0);
    header.e_shoff = bytes.size();
    header.e_shnum = 2;
    header.e_shstrndx = 1;
    Elf64_Shdr null_section{};
    Elf64_Shdr name_table{};
    name_table.sh_name = 1;
    name_table.sh_type = SHT_STRTAB;
    name_table.sh_offset = names_offset;
    name_table.sh_size = sizeof names;
    bytes.insert(bytes.end(), reinterpret_cast<std::uint8_t*>(&null_section), reinterpret_cast<std::uint8_t*>(&null_section) + sizeof null_section);
    bytes.insert(bytes.end(), reinterpret_cast<std::uint8_t*>(&name_table), reinterpret_cast<std::uint8_t*>(&name_table) + sizeof name_table);
    std::memcpy(bytes.data(), &header, sizeof header);

    auto object = parse(bytes);
    ASSERT_FALSE(object.is_error()) << object.error().message;
    EXPECT_EQ(object->sections().size(), 2u);
    EXPECT_TRUE(object->symbols().empty());
    EXPECT_EQ(object->find_section(".shstrtab"), 1u);
    EXPECT_EQ(read_cell_identity(object.value()).error().code, ErrorCode::NotFound);

    reinterpret_cast<Elf64_Ehdr*>(bytes.data())->e_shnum = 0;
    reinterpret_cast<Elf64_Ehdr*>(bytes.data())->e_shoff = 0;
    EXPECT_STREQ(parse_error(bytes).message, "relocatable object has no section header table");
}

TEST(ObjectFile, CellNamesFollowOneRule)
{
    EXPECT_TRUE(is_valid_cell_name("kv"));
    EXPECT_TRUE(is_valid_cell_name("reloc_probe"));
    EXPECT_TRUE(is_valid_cell_name("a1"));
    EXPECT_FALSE(is_valid_cell_name(""));
    EXPECT_FALSE(is_valid_cell_name("1kv"));
    EXPECT_FALSE(is_valid_cell_name("Kv"));
    EXPECT_FALSE(is_valid_cell_name("k-v"));
    EXPECT_FALSE(is_valid_cell_name("k.v"));
    EXPECT_TRUE(is_valid_cell_name("a234567890123456789012345678901"));  // 31 characters: fits
    EXPECT_FALSE(is_valid_cell_name("a2345678901234567890123456789012"));
}
