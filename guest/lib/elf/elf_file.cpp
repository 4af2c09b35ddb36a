// elf_file.cpp: header validation and checked table lookups for ElfFile.
#include "lib/elf/elf_file.h"

namespace delos::elf {

ErrorOr<ElfFile> ElfFile::parse(ByteView bytes)
{
    auto header_or_error = bytes.read<Elf64_Ehdr>(0);
    if (header_or_error.is_error())
        return Error::make(ErrorCode::Malformed, "file is shorter than an ELF-64 header", bytes.size());
    Elf64_Ehdr header = header_or_error.value();
    for (int i = 0; i < 4; ++i) {
        if (header.e_ident[i] != kMagic[i])
            return Error::make(ErrorCode::Malformed, "not an ELF file (bad magic)");
    }
    if (header.e_ident[EI_CLASS] != ELFCLASS64)
        return Error::make(ErrorCode::Unsupported, "ELF class is not 64-bit", header.e_ident[EI_CLASS]);
    if (header.e_ident[EI_DATA] != ELFDATA2LSB)
        return Error::make(ErrorCode::Unsupported, "ELF data encoding is not little-endian", header.e_ident[EI_DATA]);
    if (header.e_ident[EI_VERSION] != EV_CURRENT)
        return Error::make(ErrorCode::Unsupported, "unknown ELF version", header.e_ident[EI_VERSION]);
    if (header.e_machine != EM_X86_64)
        return Error::make(ErrorCode::Unsupported, "ELF machine is not x86-64", header.e_machine);
    if (header.e_ehsize < sizeof(Elf64_Ehdr))
        return Error::make(ErrorCode::Malformed, "ELF header size too small", header.e_ehsize);

    if (header.e_phnum != 0) {
        if (header.e_phentsize != sizeof(Elf64_Phdr))
            return Error::make(ErrorCode::Malformed, "unexpected program header entry size", header.e_phentsize);
        if (!bytes.contains(header.e_phoff, std::uint64_t(header.e_phnum) * sizeof(Elf64_Phdr)))
            return Error::make(ErrorCode::OutOfRange, "program header table lies outside the file", header.e_phoff);
    }

    std::size_t section_count = header.e_shnum;
    if (header.e_shoff != 0) {
        if (header.e_shentsize != sizeof(Elf64_Shdr))
            return Error::make(ErrorCode::Malformed, "unexpected section header entry size", header.e_shentsize);
        // With 0xff00 or more sections, e_shnum is 0 and the count lives in section 0's sh_size.
        if (section_count == 0) {
            auto first = bytes.read<Elf64_Shdr>(header.e_shoff);
            if (first.is_error())
                return Error::make(ErrorCode::OutOfRange, "section header table lies outside the file", header.e_shoff);
            if (first.value().sh_size > bytes.size() / sizeof(Elf64_Shdr))
                return Error::make(ErrorCode::OutOfRange, "section count exceeds the file", first.value().sh_size);
            section_count = static_cast<std::size_t>(first.value().sh_size);
        }
        if (!bytes.contains(header.e_shoff, std::uint64_t(section_count) * sizeof(Elf64_Shdr)))
            return Error::make(ErrorCode::OutOfRange, "section header table lies outside the file", header.e_shoff);
        if (header.e_shstrndx != SHN_UNDEF && header.e_shstrndx != SHN_XINDEX && header.e_shstrndx >= section_count)
            return Error::make(ErrorCode::OutOfRange, "section name table index out of range", header.e_shstrndx);
    } else {
        section_count = 0;
    }
    return ElfFile(bytes, header, section_count);
}

ErrorOr<Elf64_Phdr> ElfFile::segment(std::size_t index) const
{
    if (index >= m_header.e_phnum)
        return Error::make(ErrorCode::OutOfRange, "program header index out of range", index);
    return m_bytes.read<Elf64_Phdr>(m_header.e_phoff + index * sizeof(Elf64_Phdr));
}

ErrorOr<ByteView> ElfFile::segment_contents(const Elf64_Phdr& segment) const
{
    if (!m_bytes.contains(segment.p_offset, segment.p_filesz))
        return Error::make(ErrorCode::OutOfRange, "segment lies outside the file", segment.p_offset);
    return m_bytes.slice(segment.p_offset, segment.p_filesz);
}

ErrorOr<Elf64_Shdr> ElfFile::section(std::size_t index) const
{
    if (index >= m_section_count)
        return Error::make(ErrorCode::OutOfRange, "section index out of range", index);
    return m_bytes.read<Elf64_Shdr>(m_header.e_shoff + index * sizeof(Elf64_Shdr));
}

ErrorOr<ByteView> ElfFile::section_contents(const Elf64_Shdr& section) const
{
    if (section.sh_type == SHT_NOBITS)
        return ByteView();
    if (!m_bytes.contains(section.sh_offset, section.sh_size))
        return Error::make(ErrorCode::OutOfRange, "section lies outside the file", section.sh_offset);
    return m_bytes.slice(section.sh_offset, section.sh_size);
}

ErrorOr<StringView> ElfFile::string_at(std::size_t strtab_index, std::uint64_t offset) const
{
    auto table = TRY(section(strtab_index));
    if (table.sh_type != SHT_STRTAB)
        return Error::make(ErrorCode::Malformed, "string table section is not SHT_STRTAB", strtab_index);
    auto contents = TRY(section_contents(table));
    if (offset >= contents.size())
        return Error::make(ErrorCode::OutOfRange, "string offset outside its table", offset);
    const char* start = reinterpret_cast<const char*>(contents.data()) + offset;
    std::size_t limit = contents.size() - static_cast<std::size_t>(offset);
    std::size_t length = 0;
    while (length < limit && start[length] != 0)
        ++length;
    if (length == limit)
        return Error::make(ErrorCode::Malformed, "string is not NUL-terminated inside its table", offset);
    return StringView(start, length);
}

ErrorOr<StringView> ElfFile::section_name(const Elf64_Shdr& section) const
{
    std::size_t names = m_header.e_shstrndx;
    if (names == SHN_XINDEX) {
        auto first = TRY(this->section(0));
        names = first.sh_link;
    }
    if (names == SHN_UNDEF)
        return Error::make(ErrorCode::Malformed, "file has no section name table");
    return string_at(names, section.sh_name);
}

ErrorOr<std::size_t> ElfFile::find_section(StringView name) const
{
    for (std::size_t i = 1; i < m_section_count; ++i) {
        auto header = TRY(section(i));
        auto section_name_or_error = section_name(header);
        if (!section_name_or_error.is_error() && section_name_or_error.value() == name)
            return i;
    }
    return Error::make(ErrorCode::NotFound, "no section with that name");
}

} // namespace delos::elf
