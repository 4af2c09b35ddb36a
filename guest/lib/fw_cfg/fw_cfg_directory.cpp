// fw_cfg_directory.cpp: see fw_cfg_directory.h.
#include "lib/fw_cfg/fw_cfg_directory.h"

namespace delos::fw_cfg {

namespace {

std::uint32_t big_endian32(const std::uint8_t* bytes)
{
    return (std::uint32_t(bytes[0]) << 24) | (std::uint32_t(bytes[1]) << 16) | (std::uint32_t(bytes[2]) << 8) | bytes[3];
}

constexpr std::size_t kNameOffset = 8;
constexpr std::size_t kNameBytes = kDirectoryEntryBytes - kNameOffset;

bool generation_character(std::uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

} // namespace

ErrorOr<std::uint32_t> parse_directory_count(ByteView first_four_bytes)
{
    if (first_four_bytes.size() != 4)
        return Error::make(ErrorCode::Malformed, "fw_cfg: the directory count is 4 bytes");
    std::uint32_t count = big_endian32(first_four_bytes.data());
    if (count > kMaxDirectoryEntries)
        return Error::make(ErrorCode::OutOfRange, "fw_cfg: too many directory entries");
    return count;
}

ErrorOr<DirectoryEntry> parse_directory_entry(ByteView entry)
{
    if (entry.size() != kDirectoryEntryBytes)
        return Error::make(ErrorCode::Malformed, "fw_cfg: a directory entry is 64 bytes");
    const std::uint8_t* bytes = entry.data();
    DirectoryEntry parsed;
    parsed.size = big_endian32(bytes);
    parsed.selector = static_cast<std::uint16_t>((bytes[4] << 8) | bytes[5]);
    std::size_t length = 0;
    while (length < kNameBytes && bytes[kNameOffset + length] != 0)
        ++length;
    if (length == kNameBytes)
        return Error::make(ErrorCode::Malformed, "fw_cfg: a file name is not NUL-terminated");
    parsed.name = StringView(reinterpret_cast<const char*>(bytes + kNameOffset), length);
    return parsed;
}

ErrorOr<StringView> parse_generation(ByteView bytes)
{
    std::size_t size = bytes.size();
    if (size > 0 && bytes.data()[size - 1] == 0)
        --size;
    if (size == 0)
        return Error::make(ErrorCode::Malformed, "fw_cfg: the VM generation is empty");
    if (size > kMaxGenerationBytes)
        return Error::make(ErrorCode::OutOfRange, "fw_cfg: the VM generation is longer than 64 bytes");
    for (std::size_t i = 0; i < size; ++i) {
        if (!generation_character(bytes.data()[i]))
            return Error::make(ErrorCode::Malformed, "fw_cfg: the VM generation has a character outside [A-Za-z0-9._-]");
    }
    return StringView(reinterpret_cast<const char*>(bytes.data()), size);
}

} // namespace delos::fw_cfg
