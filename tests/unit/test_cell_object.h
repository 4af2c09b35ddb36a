// test_cell_object.h: builds a minimal cell object for tests: ELF-64 ET_REL with a DELOS_CELL
// record and a .rodata of deterministic bytes, enough for CellPushes' checks at commit.
#pragma once

#include <cstring>
#include <random>
#include <string>

#include "lib/elf/elf64.h"
#include "linker/cell_info.h"

namespace delos::test {

// A minimal cell object: ELF-64 ET_REL with a DELOS_CELL record and `rodata_bytes` of data.
inline std::string make_cell_object(const std::string& name, const std::string& version, std::size_t rodata_bytes)
{
    link::CellInfo record{};
    record.magic = link::kCellInfoMagic;
    record.abi_version = link::kCellAbiVersion;
    std::strncpy(record.name, name.c_str(), sizeof record.name - 1);
    std::strncpy(record.version, version.c_str(), sizeof record.version - 1);
    const std::string names = std::string("\0.delos.cell\0.rodata\0.shstrtab\0", 31);

    std::string rodata(rodata_bytes, '\0');
    std::mt19937 rng(static_cast<unsigned>(rodata_bytes));
    for (char& c : rodata)
        c = static_cast<char>(rng());

    std::string file(sizeof(elf::Elf64_Ehdr), '\0');
    auto append = [&](const void* data, std::size_t size) {
        std::size_t offset = (file.size() + 7) & ~std::size_t(7);
        file.resize(offset);
        file.append(static_cast<const char*>(data), size);
        return offset;
    };
    std::size_t record_offset = append(&record, sizeof record);
    std::size_t rodata_offset = append(rodata.data(), rodata.size());
    std::size_t names_offset = append(names.data(), names.size());

    elf::Elf64_Shdr sections[4]{};
    sections[1] = {1, elf::SHT_PROGBITS, elf::SHF_ALLOC, 0, record_offset, sizeof record, 0, 0, 8, 0};
    sections[2] = {13, elf::SHT_PROGBITS, elf::SHF_ALLOC, 0, rodata_offset, rodata.size(), 0, 0, 1, 0};
    sections[3] = {21, elf::SHT_STRTAB, 0, 0, names_offset, names.size(), 0, 0, 1, 0};
    std::size_t sections_offset = append(sections, sizeof sections);

    elf::Elf64_Ehdr header{};
    const unsigned char ident[] = {0x7f, 'E', 'L', 'F', elf::ELFCLASS64, elf::ELFDATA2LSB, elf::EV_CURRENT};
    std::memcpy(header.e_ident, ident, sizeof ident);
    header.e_type = elf::ET_REL;
    header.e_machine = elf::EM_X86_64;
    header.e_version = elf::EV_CURRENT;
    header.e_shoff = sections_offset;
    header.e_ehsize = sizeof header;
    header.e_shentsize = sizeof(elf::Elf64_Shdr);
    header.e_shnum = 4;
    header.e_shstrndx = 3;
    std::memcpy(file.data(), &header, sizeof header);
    return file;
}

} // namespace delos::test
