// cell_check.cpp: delos-cell-check, run by the build on every cell object it makes. It reads the
// object with the guest's own reader and refuses what the loader would refuse later: no or
// several DELOS_CELL records, a record whose name is not the cell's folder, sections the loader
// cannot place, and relocation types it does not implement.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "lib/elf/elf64.h"
#include "linker/cell_identity.h"
#include "linker/relocatable_object.h"
#include "linker/relocation.h"

using namespace delos;
using namespace delos::link;

namespace {

int refuse(const char* path, const char* what, const Error& error)
{
    std::fprintf(stderr, "%s: %s: %s (%s, value %llu)\n", path, what, error.message, error_code_name(error.code),
                 static_cast<unsigned long long>(error.value));
    return 1;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s CELL_NAME CELL_OBJECT\n", argv[0]);
        return 2;
    }
    const char* expected_name = argv[1];
    const char* path = argv[2];
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

    auto object = RelocatableObject::parse(ByteView(bytes.data(), bytes.size()));
    if (object.is_error())
        return refuse(path, "not a valid relocatable object", object.error());
    auto identity = read_cell_identity(object.value());
    if (identity.is_error())
        return refuse(path, "bad cell record", identity.error());
    if (identity->name != StringView(expected_name)) {
        std::fprintf(stderr, "%s: DELOS_CELL names the cell \"%.*s\" but its folder is cells/%s\n", path,
                     static_cast<int>(identity->name.size()), identity->name.data(), expected_name);
        return 1;
    }

    int problems = 0;
    for (const ObjectSection& section : object->sections()) {
        if (!section.is_loadable())
            continue;
        if (section.flags & elf::SHF_TLS) {
            std::fprintf(stderr, "%s: section %.*s is thread-local; cells cannot have TLS\n", path,
                         static_cast<int>(section.name.size()), section.name.data());
            ++problems;
        }
        if ((section.flags & elf::SHF_WRITE) && (section.flags & elf::SHF_EXECINSTR)) {
            std::fprintf(stderr, "%s: section %.*s is writable and executable\n", path,
                         static_cast<int>(section.name.size()), section.name.data());
            ++problems;
        }
    }
    for (const RelocationSection& relocations : object->relocation_sections()) {
        const ObjectSection& target = object->section(relocations.target);
        if (!target.is_loadable())
            continue;
        for (std::size_t i = 0; i < relocations.count(); ++i) {
            ObjectRelocation relocation = relocations.at(i);
            if (is_supported_relocation(relocation.type))
                continue;
            std::fprintf(stderr, "%s: section %.*s + 0x%llx: relocation type %u is not supported by the cell loader\n",
                         path, static_cast<int>(target.name.size()), target.name.data(),
                         static_cast<unsigned long long>(relocation.offset), relocation.type);
            ++problems;
        }
    }
    return problems == 0 ? 0 : 1;
}
