// elf_file.h: validated, bounds-checked access to an ELF-64 x86-64 file held in memory.
// Shared by the guest's cell loader, the VMM's kernel loader and host tools; trusts no byte.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/elf/elf64.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::elf {

struct Note {
    StringView name;   // without the trailing NUL
    Elf64_Word type;
    ByteView descriptor;
};

class ElfFile {
public:
    // Checks the identification, class, data encoding, machine and that the program and
    // section header tables lie inside the file with the expected entry sizes.
    static ErrorOr<ElfFile> parse(ByteView bytes);

    const Elf64_Ehdr& header() const { return m_header; }
    ByteView bytes() const { return m_bytes; }

    std::size_t segment_count() const { return m_header.e_phnum; }
    ErrorOr<Elf64_Phdr> segment(std::size_t index) const;
    // The file bytes a segment holds (p_filesz of them), checked against the file.
    ErrorOr<ByteView> segment_contents(const Elf64_Phdr&) const;

    std::size_t section_count() const { return m_section_count; }
    ErrorOr<Elf64_Shdr> section(std::size_t index) const;
    // The file bytes a section holds; empty for SHT_NOBITS.
    ErrorOr<ByteView> section_contents(const Elf64_Shdr&) const;
    ErrorOr<StringView> section_name(const Elf64_Shdr&) const;
    ErrorOr<std::size_t> find_section(StringView name) const;

    // A NUL-terminated string at `offset` inside the string table section `strtab_index`.
    ErrorOr<StringView> string_at(std::size_t strtab_index, std::uint64_t offset) const;

    // Calls visit(const Note&) for each note in `notes` (the contents of a PT_NOTE segment or
    // SHT_NOTE section); stops at the first malformed note with an error.
    template <typename Visitor>
    static ErrorOr<void> for_each_note(ByteView notes, Visitor&& visit);

private:
    ElfFile(ByteView bytes, const Elf64_Ehdr& header, std::size_t section_count)
        : m_bytes(bytes), m_header(header), m_section_count(section_count)
    {
    }

    ByteView m_bytes;
    Elf64_Ehdr m_header;
    std::size_t m_section_count;
};

template <typename Visitor>
ErrorOr<void> ElfFile::for_each_note(ByteView notes, Visitor&& visit)
{
    std::uint64_t offset = 0;
    auto align4 = [](std::uint64_t value) { return (value + 3) & ~std::uint64_t(3); };
    while (offset < notes.size()) {
        auto header = TRY(notes.read<Elf64_Nhdr>(offset));
        std::uint64_t name_offset = offset + sizeof(Elf64_Nhdr);
        std::uint64_t desc_offset = name_offset + align4(header.n_namesz);
        if (!notes.contains(name_offset, header.n_namesz) || !notes.contains(desc_offset, header.n_descsz))
            return Error::make(ErrorCode::Malformed, "note runs past the end of its segment", offset);
        auto name_bytes = TRY(notes.slice(name_offset, header.n_namesz));
        std::size_t name_length = name_bytes.size();
        if (name_length > 0 && name_bytes.data()[name_length - 1] == 0)
            --name_length;
        Note note{StringView(reinterpret_cast<const char*>(name_bytes.data()), name_length), header.n_type,
                  TRY(notes.slice(desc_offset, header.n_descsz))};
        visit(note);
        offset = desc_offset + align4(header.n_descsz);
    }
    return {};
}

} // namespace delos::elf
