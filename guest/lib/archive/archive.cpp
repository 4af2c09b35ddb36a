// archive.cpp: parsing of `ar` member headers, long names and the symbol index.
#include "lib/archive/archive.h"

namespace delos::archive {

namespace {

// Field layout of the 60-byte member header (all ASCII, space padded).
constexpr std::size_t kNameOffset = 0, kNameSize = 16;
constexpr std::size_t kSizeOffset = 48, kSizeSize = 10;
constexpr std::size_t kMagicOffset = 58;

StringView field(ByteView header, std::size_t offset, std::size_t size)
{
    return StringView(reinterpret_cast<const char*>(header.data()) + offset, size);
}

// A decimal field: digits, then only spaces. Empty or non-decimal fields are refused.
ErrorOr<std::uint64_t> parse_decimal(StringView text, const char* what_is_wrong)
{
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (~std::uint64_t(0) - digit) / 10)
            return Error::make(ErrorCode::Malformed, what_is_wrong, value);
        value = value * 10 + digit;
    }
    if (i == 0)
        return Error::make(ErrorCode::Malformed, what_is_wrong);
    for (; i < text.size(); ++i) {
        if (text[i] != ' ')
            return Error::make(ErrorCode::Malformed, what_is_wrong, static_cast<unsigned char>(text[i]));
    }
    return value;
}

StringView trim_trailing_spaces(StringView text)
{
    std::size_t size = text.size();
    while (size > 0 && text[size - 1] == ' ')
        --size;
    return text.substr(0, size);
}

// A name from the "//" table: it runs up to "/\n" (GNU) or "\n" (some writers).
ErrorOr<StringView> long_name_at(ByteView table, std::uint64_t offset)
{
    if (table.empty())
        return Error::make(ErrorCode::Malformed, "member uses a long name but the archive has no \"//\" table", offset);
    if (offset >= table.size())
        return Error::make(ErrorCode::OutOfRange, "long name offset lies outside the \"//\" table", offset);
    const char* start = reinterpret_cast<const char*>(table.data()) + offset;
    std::size_t limit = table.size() - static_cast<std::size_t>(offset);
    for (std::size_t length = 0; length < limit; ++length) {
        if (start[length] == '\n') {
            std::size_t name_length = length;
            if (name_length > 0 && start[name_length - 1] == '/')
                --name_length;
            if (name_length == 0)
                return Error::make(ErrorCode::Malformed, "empty long member name", offset);
            return StringView(start, name_length);
        }
        if (start[length] == 0)
            break;
    }
    return Error::make(ErrorCode::Malformed, "long member name is not terminated by \"/\\n\"", offset);
}

std::uint64_t read_big_endian(const std::uint8_t* bytes, std::size_t width)
{
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i)
        value = (value << 8) | bytes[i];
    return value;
}

// Looks up the member whose header starts at `header_offset` (members are in file order).
ErrorOr<std::size_t> member_at(const Vector<ArchiveMember>& members, std::uint64_t header_offset)
{
    std::size_t low = 0, high = members.size();
    while (low < high) {
        std::size_t middle = low + (high - low) / 2;
        if (members[middle].header_offset < header_offset)
            low = middle + 1;
        else
            high = middle;
    }
    if (low == members.size() || members[low].header_offset != header_offset)
        return Error::make(ErrorCode::Malformed, "symbol index points at no member header", header_offset);
    return low;
}

// "/" (32-bit offsets) or "/SYM64/" (64-bit): a big-endian count, that many member header
// offsets, then as many NUL-terminated names.
ErrorOr<void> parse_symbol_index(ByteView index, std::size_t width, const Vector<ArchiveMember>& members,
                                 Vector<ArchiveSymbol>& symbols)
{
    if (index.size() < width)
        return Error::make(ErrorCode::Malformed, "symbol index is shorter than its count field", index.size());
    std::uint64_t count = read_big_endian(index.data(), width);
    if (count > (index.size() - width) / width)
        return Error::make(ErrorCode::OutOfRange, "symbol index count exceeds the index", count);
    std::size_t names_offset = width + static_cast<std::size_t>(count) * width;
    const char* names = reinterpret_cast<const char*>(index.data()) + names_offset;
    std::size_t names_size = index.size() - names_offset;
    std::size_t position = 0;
    symbols.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t header_offset = read_big_endian(index.data() + width + i * width, width);
        std::size_t start = position;
        while (position < names_size && names[position] != 0)
            ++position;
        if (position == names_size)
            return Error::make(ErrorCode::Malformed, "symbol index name runs past the index", i);
        StringView name(names + start, position - start);
        ++position;
        symbols.append(ArchiveSymbol{name, TRY(member_at(members, header_offset))});
    }
    return {};
}

} // namespace

ErrorOr<Archive> Archive::parse(ByteView bytes)
{
    if (bytes.size() >= kArchiveMagicSize && __builtin_memcmp(bytes.data(), "!<thin>\n", kArchiveMagicSize) == 0)
        return Error::make(ErrorCode::Unsupported, "thin archives (members stored outside) are not supported");
    if (bytes.size() < kArchiveMagicSize || __builtin_memcmp(bytes.data(), kArchiveMagic, kArchiveMagicSize) != 0)
        return Error::make(ErrorCode::Malformed, "not an ar archive (missing \"!<arch>\\n\")");

    Archive archive;
    ByteView long_names;
    bool has_long_names = false;
    ByteView symbol_index;
    std::size_t symbol_index_width = 0;
    std::uint64_t offset = kArchiveMagicSize;
    while (offset < bytes.size()) {
        if (!bytes.contains(offset, kMemberHeaderSize))
            return Error::make(ErrorCode::Malformed, "truncated member header", offset);
        ByteView header = TRY(bytes.slice(offset, kMemberHeaderSize));
        if (header.data()[kMagicOffset] != '`' || header.data()[kMagicOffset + 1] != '\n')
            return Error::make(ErrorCode::Malformed, "member header lacks its \"`\\n\" terminator", offset);
        std::uint64_t size = TRY(parse_decimal(field(header, kSizeOffset, kSizeSize), "member size is not a decimal number"));
        std::uint64_t data_offset = offset + kMemberHeaderSize;
        if (!bytes.contains(data_offset, size))
            return Error::make(ErrorCode::OutOfRange, "member data runs past the end of the archive", offset);
        ByteView contents = TRY(bytes.slice(data_offset, size));

        StringView raw_name = trim_trailing_spaces(field(header, kNameOffset, kNameSize));
        if (raw_name == "/" || raw_name == "/SYM64/") {
            if (symbol_index_width != 0)
                return Error::make(ErrorCode::Malformed, "archive has more than one symbol index", offset);
            symbol_index = contents;
            symbol_index_width = raw_name == "/" ? 4 : 8;
        } else if (raw_name == "//") {
            if (has_long_names)
                return Error::make(ErrorCode::Malformed, "archive has more than one long-name table", offset);
            has_long_names = true;
            long_names = contents;
        } else {
            StringView name;
            if (raw_name.starts_with("#1/")) {
                return Error::make(ErrorCode::Unsupported, "BSD-style long member names are not supported", offset);
            } else if (raw_name.size() >= 2 && raw_name[0] == '/') {
                std::uint64_t name_offset = TRY(parse_decimal(raw_name.substr(1), "long member name reference is not \"/<decimal>\""));
                name = TRY(long_name_at(long_names, name_offset));
            } else {
                std::size_t slash = raw_name.find('/');
                name = slash == StringView::npos ? raw_name : raw_name.substr(0, slash);
                if (slash != StringView::npos && slash + 1 != raw_name.size())
                    return Error::make(ErrorCode::Malformed, "characters after the \"/\" that ends a member name", offset);
            }
            if (name.empty())
                return Error::make(ErrorCode::Malformed, "member has an empty name", offset);
            archive.m_members.append(ArchiveMember{name, contents, offset});
        }

        // Members start on even offsets; a missing pad byte is tolerated only at the very end.
        offset = data_offset + size;
        if (offset % 2 == 1) {
            if (offset < bytes.size() && bytes.data()[offset] != '\n')
                return Error::make(ErrorCode::Malformed, "member padding byte is not \"\\n\"", offset);
            ++offset;
        }
    }

    if (symbol_index_width != 0)
        TRY(parse_symbol_index(symbol_index, symbol_index_width, archive.m_members, archive.m_symbols));
    return archive;
}

ErrorOr<const ArchiveMember*> Archive::find(StringView name) const
{
    for (const ArchiveMember& member : m_members) {
        if (member.name == name)
            return &member;
    }
    return Error::make(ErrorCode::NotFound, "no archive member with that name");
}

} // namespace delos::archive
