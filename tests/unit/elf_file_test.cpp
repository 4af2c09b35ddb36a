// elf_file_test.cpp: ElfFile accepts real x86-64 ELF files and refuses malformed ones precisely.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "lib/elf/elf_file.h"

using namespace delos;
using namespace delos::elf;

namespace {

std::vector<std::uint8_t> read_file(const char* path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::uint8_t> minimal_header()
{
    std::vector<std::uint8_t> bytes(sizeof(Elf64_Ehdr), 0);
    Elf64_Ehdr header{};
    std::memcpy(header.e_ident, kMagic, 4);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_EXEC;
    header.e_machine = EM_X86_64;
    header.e_ehsize = sizeof(Elf64_Ehdr);
    std::memcpy(bytes.data(), &header, sizeof header);
    return bytes;
}

Elf64_Ehdr& header_of(std::vector<std::uint8_t>& bytes) { return *reinterpret_cast<Elf64_Ehdr*>(bytes.data()); }

} // namespace

TEST(ElfFile, ParsesTheTestBinaryItself)
{
    auto bytes = read_file("/proc/self/exe");
    ASSERT_GT(bytes.size(), sizeof(Elf64_Ehdr));
    auto file = ElfFile::parse(ByteView(bytes.data(), bytes.size()));
    ASSERT_FALSE(file.is_error()) << file.error().message;
    EXPECT_GT(file->segment_count(), 0u);
    auto text = file->find_section(".text");
    ASSERT_FALSE(text.is_error());
    auto header = file->section(text.value());
    ASSERT_FALSE(header.is_error());
    EXPECT_TRUE(header->sh_flags & SHF_EXECINSTR);
}

TEST(ElfFile, MinimalHeaderIsAccepted)
{
    auto bytes = minimal_header();
    auto file = ElfFile::parse(ByteView(bytes.data(), bytes.size()));
    ASSERT_FALSE(file.is_error()) << file.error().message;
    EXPECT_EQ(file->segment_count(), 0u);
    EXPECT_EQ(file->section_count(), 0u);
}

TEST(ElfFile, RefusesTruncatedHeader)
{
    auto bytes = minimal_header();
    auto file = ElfFile::parse(ByteView(bytes.data(), sizeof(Elf64_Ehdr) - 1));
    ASSERT_TRUE(file.is_error());
    EXPECT_EQ(file.error().code, ErrorCode::Malformed);
}

TEST(ElfFile, RefusesBadMagicClassAndMachine)
{
    auto bytes = minimal_header();
    bytes[1] = 'X';
    EXPECT_EQ(ElfFile::parse(ByteView(bytes.data(), bytes.size())).error().code, ErrorCode::Malformed);

    bytes = minimal_header();
    bytes[EI_CLASS] = 1;
    auto wrong_class = ElfFile::parse(ByteView(bytes.data(), bytes.size()));
    ASSERT_TRUE(wrong_class.is_error());
    EXPECT_EQ(wrong_class.error().code, ErrorCode::Unsupported);
    EXPECT_STREQ(wrong_class.error().message, "ELF class is not 64-bit");

    bytes = minimal_header();
    header_of(bytes).e_machine = 3;  // EM_386
    auto wrong_machine = ElfFile::parse(ByteView(bytes.data(), bytes.size()));
    ASSERT_TRUE(wrong_machine.is_error());
    EXPECT_EQ(wrong_machine.error().value, 3u);
}

TEST(ElfFile, RefusesTablesOutsideTheFile)
{
    auto bytes = minimal_header();
    header_of(bytes).e_phnum = 2;
    header_of(bytes).e_phentsize = sizeof(Elf64_Phdr);
    header_of(bytes).e_phoff = 0xfffffffffffffff0ull;  // would wrap if added naively
    EXPECT_EQ(ElfFile::parse(ByteView(bytes.data(), bytes.size())).error().code, ErrorCode::OutOfRange);

    bytes = minimal_header();
    header_of(bytes).e_shoff = sizeof(Elf64_Ehdr);
    header_of(bytes).e_shentsize = sizeof(Elf64_Shdr);
    header_of(bytes).e_shnum = 4;
    EXPECT_EQ(ElfFile::parse(ByteView(bytes.data(), bytes.size())).error().code, ErrorCode::OutOfRange);
}

TEST(ElfFile, NotesAreWalkedAndBoundsChecked)
{
    // One note: name "Xen\0" (4 bytes), type 18, 4-byte descriptor.
    std::uint8_t notes[12 + 4 + 4] = {4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0, 0x78, 0x56, 0x34, 0x12};
    int seen = 0;
    auto result = ElfFile::for_each_note(ByteView(notes, sizeof notes), [&](const Note& note) {
        ++seen;
        EXPECT_TRUE(note.name == StringView("Xen"));
        EXPECT_EQ(note.type, 18u);
        EXPECT_EQ(note.descriptor.size(), 4u);
    });
    EXPECT_FALSE(result.is_error());
    EXPECT_EQ(seen, 1);

    notes[4] = 200;  // descriptor size past the end
    auto truncated = ElfFile::for_each_note(ByteView(notes, sizeof notes), [&](const Note&) {});
    EXPECT_TRUE(truncated.is_error());
}
