// elf64.h: the ELF-64 structures and constants Delos reads (System V gABI, x86-64 psABI).
#pragma once

#include <cstdint>

namespace delos::elf {

using Elf64_Addr = std::uint64_t;
using Elf64_Off = std::uint64_t;
using Elf64_Half = std::uint16_t;
using Elf64_Word = std::uint32_t;
using Elf64_Sword = std::int32_t;
using Elf64_Xword = std::uint64_t;
using Elf64_Sxword = std::int64_t;

inline constexpr std::uint8_t kMagic[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr std::uint8_t ELFCLASS64 = 2;
inline constexpr std::uint8_t ELFDATA2LSB = 1;
inline constexpr std::uint8_t EV_CURRENT = 1;
inline constexpr int EI_CLASS = 4, EI_DATA = 5, EI_VERSION = 6, EI_NIDENT = 16;

inline constexpr Elf64_Half ET_REL = 1, ET_EXEC = 2, ET_DYN = 3;
inline constexpr Elf64_Half EM_X86_64 = 62;

struct Elf64_Ehdr {
    std::uint8_t e_ident[EI_NIDENT];
    Elf64_Half e_type;
    Elf64_Half e_machine;
    Elf64_Word e_version;
    Elf64_Addr e_entry;
    Elf64_Off e_phoff;
    Elf64_Off e_shoff;
    Elf64_Word e_flags;
    Elf64_Half e_ehsize;
    Elf64_Half e_phentsize;
    Elf64_Half e_phnum;
    Elf64_Half e_shentsize;
    Elf64_Half e_shnum;
    Elf64_Half e_shstrndx;
};

inline constexpr Elf64_Word PT_NULL = 0, PT_LOAD = 1, PT_NOTE = 4, PT_GNU_STACK = 0x6474e551;
inline constexpr Elf64_Word PF_X = 1, PF_W = 2, PF_R = 4;

struct Elf64_Phdr {
    Elf64_Word p_type;
    Elf64_Word p_flags;
    Elf64_Off p_offset;
    Elf64_Addr p_vaddr;
    Elf64_Addr p_paddr;
    Elf64_Xword p_filesz;
    Elf64_Xword p_memsz;
    Elf64_Xword p_align;
};

inline constexpr Elf64_Half SHN_UNDEF = 0, SHN_LORESERVE = 0xff00, SHN_ABS = 0xfff1, SHN_COMMON = 0xfff2,
                            SHN_XINDEX = 0xffff;
inline constexpr Elf64_Word SHT_NULL = 0, SHT_PROGBITS = 1, SHT_SYMTAB = 2, SHT_STRTAB = 3, SHT_RELA = 4,
                            SHT_NOBITS = 8, SHT_NOTE = 7, SHT_REL = 9, SHT_INIT_ARRAY = 14, SHT_FINI_ARRAY = 15,
                            SHT_PREINIT_ARRAY = 16, SHT_GROUP = 17, SHT_SYMTAB_SHNDX = 18,
                            SHT_X86_64_UNWIND = 0x70000001;
inline constexpr Elf64_Xword SHF_WRITE = 0x1, SHF_ALLOC = 0x2, SHF_EXECINSTR = 0x4, SHF_MERGE = 0x10,
                             SHF_STRINGS = 0x20, SHF_INFO_LINK = 0x40, SHF_GROUP = 0x200, SHF_TLS = 0x400;

struct Elf64_Shdr {
    Elf64_Word sh_name;
    Elf64_Word sh_type;
    Elf64_Xword sh_flags;
    Elf64_Addr sh_addr;
    Elf64_Off sh_offset;
    Elf64_Xword sh_size;
    Elf64_Word sh_link;
    Elf64_Word sh_info;
    Elf64_Xword sh_addralign;
    Elf64_Xword sh_entsize;
};

inline constexpr std::uint8_t STB_LOCAL = 0, STB_GLOBAL = 1, STB_WEAK = 2, STB_GNU_UNIQUE = 10;
inline constexpr std::uint8_t STT_NOTYPE = 0, STT_OBJECT = 1, STT_FUNC = 2, STT_SECTION = 3, STT_FILE = 4,
                              STT_COMMON = 5, STT_TLS = 6, STT_GNU_IFUNC = 10;
inline constexpr std::uint8_t STV_DEFAULT = 0, STV_HIDDEN = 2;

struct Elf64_Sym {
    Elf64_Word st_name;
    std::uint8_t st_info;
    std::uint8_t st_other;
    Elf64_Half st_shndx;
    Elf64_Addr st_value;
    Elf64_Xword st_size;

    std::uint8_t binding() const { return st_info >> 4; }
    std::uint8_t type() const { return st_info & 0xf; }
    std::uint8_t visibility() const { return st_other & 0x3; }
};

struct Elf64_Rela {
    Elf64_Addr r_offset;
    Elf64_Xword r_info;
    Elf64_Sxword r_addend;

    Elf64_Word symbol() const { return static_cast<Elf64_Word>(r_info >> 32); }
    Elf64_Word type() const { return static_cast<Elf64_Word>(r_info & 0xffffffff); }
};

// x86-64 relocation types (psABI table 4.9).
inline constexpr Elf64_Word R_X86_64_NONE = 0, R_X86_64_64 = 1, R_X86_64_PC32 = 2, R_X86_64_GOT32 = 3,
                            R_X86_64_PLT32 = 4, R_X86_64_GOTPCREL = 9, R_X86_64_32 = 10, R_X86_64_32S = 11,
                            R_X86_64_PC64 = 24, R_X86_64_GOTPCRELX = 41, R_X86_64_REX_GOTPCRELX = 42;

struct Elf64_Nhdr {
    Elf64_Word n_namesz;
    Elf64_Word n_descsz;
    Elf64_Word n_type;
};

inline constexpr Elf64_Word GRP_COMDAT = 1;

} // namespace delos::elf
