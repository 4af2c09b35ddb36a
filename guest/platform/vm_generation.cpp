// vm_generation.cpp: see vm_generation.h. fw_cfg's legacy interface: a 16-bit selector written to
// port 0x510, the item's bytes read one at a time from 0x511 (the file directory's numbers are
// big endian). Where nothing answers (delos-vmm: unknown ports read as all ones) the signature
// check stops after five port accesses.
#include "platform/vm_generation.h"

#include "arch/x86_64/cpu.h"
#include "lib/fw_cfg/fw_cfg_directory.h"

namespace delos::platform {

namespace {

constexpr std::uint16_t kSelectorPort = 0x510;
constexpr std::uint16_t kDataPort = 0x511;

char g_value[fw_cfg::kMaxGenerationBytes + 1] = {};
std::size_t g_value_size = 0;

void select_item(std::uint16_t selector) { cpu::out16(kSelectorPort, selector); }

void read_bytes(std::uint8_t* out, std::size_t size)
{
    for (std::size_t i = 0; i < size; ++i)
        out[i] = cpu::in8(kDataPort);
}

// The generation's bytes into `out`; an error if it is not there or not acceptable.
ErrorOr<StringView> read_generation(std::uint8_t (&out)[fw_cfg::kMaxGenerationBytes + 1])
{
    std::uint8_t signature[4];
    select_item(fw_cfg::kSignatureSelector);
    read_bytes(signature, sizeof signature);
    if (signature[0] != 'Q' || signature[1] != 'E' || signature[2] != 'M' || signature[3] != 'U')
        return Error::make(ErrorCode::NotFound, "fw_cfg: no device");
    std::uint8_t count_bytes[4];
    select_item(fw_cfg::kFileDirectorySelector);
    read_bytes(count_bytes, sizeof count_bytes);
    std::uint32_t count = TRY(fw_cfg::parse_directory_count(ByteView(count_bytes, sizeof count_bytes)));
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint8_t entry_bytes[fw_cfg::kDirectoryEntryBytes];
        read_bytes(entry_bytes, sizeof entry_bytes);
        fw_cfg::DirectoryEntry entry = TRY(fw_cfg::parse_directory_entry(ByteView(entry_bytes, sizeof entry_bytes)));
        if (entry.name != StringView(fw_cfg::kGenerationFileName))
            continue;
        if (entry.size > sizeof out)
            return Error::make(ErrorCode::OutOfRange, "fw_cfg: the VM generation is longer than 64 bytes");
        select_item(entry.selector);
        read_bytes(out, entry.size);
        return fw_cfg::parse_generation(ByteView(out, entry.size));
    }
    return Error::make(ErrorCode::NotFound, "fw_cfg: no VM generation");
}

} // namespace

VmGenerationCheck check_vm_generation()
{
    VmGenerationCheck check;
    std::uint8_t bytes[fw_cfg::kMaxGenerationBytes + 1];
    StringView value;
    auto read = read_generation(bytes);
    if (!read.is_error())
        value = read.value();
    else if (read.error().code != ErrorCode::NotFound)
        check.refused = read.error().message;
    check.changed = value != StringView(g_value, g_value_size);
    for (std::size_t i = 0; i < value.size(); ++i)
        g_value[i] = value[i];
    g_value_size = value.size();
    check.value = StringView(g_value, g_value_size);
    return check;
}

} // namespace delos::platform
