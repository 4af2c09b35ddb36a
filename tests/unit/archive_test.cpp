// archive_test.cpp: the ar reader accepts the real boot archive and GNU long names, and refuses
// every kind of corruption with a specific error.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "lib/archive/archive.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::archive;
using delos::host::Bytes;
using delos::host::make_archive;
using delos::host::str;
using delos::host::view;

namespace {

Bytes text_bytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

std::string member_header(const std::string& name, const std::string& size)
{
    char text[61];
    std::snprintf(text, sizeof text, "%-16s%-12s%-6s%-6s%-8s%-10s`\n", name.c_str(), "0", "0", "0", "644", size.c_str());
    return std::string(text, 60);
}

Error parse_error(const std::string& archive)
{
    Bytes bytes = text_bytes(archive);
    auto parsed = Archive::parse(view(bytes));
    EXPECT_TRUE(parsed.is_error()) << "archive was accepted";
    return parsed.is_error() ? parsed.error() : Error{};
}

} // namespace

TEST(Archive, ReadsTheBootArchiveAndItsSymbolIndex)
{
    Bytes bytes = host::read_file(std::string(DELOS_BUILD_DIR) + "/cells/cells.a");
    ASSERT_FALSE(bytes.empty());
    auto archive = Archive::parse(view(bytes));
    ASSERT_FALSE(archive.is_error()) << archive.error().message;
    ASSERT_EQ(archive->member_count(), 3u);
    for (const char* name : {"counter.o", "kv.o", "log.o"}) {
        auto member = archive->find(name);
        ASSERT_FALSE(member.is_error()) << name;
        Bytes on_disk = host::cell_bytes(std::string(name, std::strlen(name) - 2));
        ASSERT_EQ(member.value()->contents.size(), on_disk.size()) << name;
        EXPECT_EQ(std::memcmp(member.value()->contents.data(), on_disk.data(), on_disk.size()), 0) << name;
    }
    // `ar s` indexed each cell's global definitions; every entry points at a real member.
    ASSERT_FALSE(archive->symbols().empty());
    bool found_kv_put = false;
    for (const ArchiveSymbol& symbol : archive->symbols()) {
        ASSERT_LT(symbol.member_index, archive->member_count());
        if (symbol.name == "_ZN5delos2kv3putENS_10StringViewES1_") {
            found_kv_put = true;
            EXPECT_EQ(str(archive->member(symbol.member_index).name), "kv.o");
        }
    }
    EXPECT_TRUE(found_kv_put);
    EXPECT_EQ(archive->find("missing.o").error().code, ErrorCode::NotFound);
}

TEST(Archive, ReadsLongNamesAndOddSizedMembers)
{
    Bytes odd = text_bytes("abc");
    Bytes even = text_bytes("wxyz");
    std::string long_name = "a_cell_with_a_rather_long_name.o";
    Bytes bytes = make_archive({{"odd.o", odd}, {long_name, even}, {"empty.o", {}}});
    auto archive = Archive::parse(view(bytes));
    ASSERT_FALSE(archive.is_error()) << archive.error().message;
    ASSERT_EQ(archive->member_count(), 3u);
    EXPECT_EQ(str(archive->member(0).name), "odd.o");
    EXPECT_EQ(archive->member(0).contents.size(), 3u);
    EXPECT_EQ(str(archive->member(1).name), long_name);
    EXPECT_EQ(std::memcmp(archive->member(1).contents.data(), "wxyz", 4), 0);
    EXPECT_EQ(archive->member(2).contents.size(), 0u);
    EXPECT_TRUE(archive->symbols().empty());
}

TEST(Archive, EmptyArchiveHasNoMembers)
{
    auto archive = Archive::parse(view(text_bytes("!<arch>\n")));
    ASSERT_FALSE(archive.is_error());
    EXPECT_EQ(archive->member_count(), 0u);
}

TEST(Archive, ToleratesAMissingPadByteOnlyAtTheEnd)
{
    std::string archive = "!<arch>\n" + member_header("a.o/", "3") + "abc";
    auto parsed = Archive::parse(view(text_bytes(archive)));
    ASSERT_FALSE(parsed.is_error());
    EXPECT_EQ(parsed->member_count(), 1u);

    std::string bad_pad = "!<arch>\n" + member_header("a.o/", "3") + "abcX" + member_header("b.o/", "0");
    Error error = parse_error(bad_pad);
    EXPECT_EQ(error.code, ErrorCode::Malformed);
    EXPECT_STREQ(error.message, "member padding byte is not \"\\n\"");
    EXPECT_EQ(error.value, 8u + 60 + 3);
}

TEST(Archive, RefusesWhatIsNotAnArchive)
{
    EXPECT_STREQ(parse_error("!<arch").message, "not an ar archive (missing \"!<arch>\\n\")");
    EXPECT_STREQ(parse_error("\x7f" "ELF....").message, "not an ar archive (missing \"!<arch>\\n\")");
    Error thin = parse_error("!<thin>\n");
    EXPECT_EQ(thin.code, ErrorCode::Unsupported);
}

TEST(Archive, RefusesCorruptMemberHeaders)
{
    std::string good = member_header("a.o/", "2") + "hi";

    Error truncated = parse_error("!<arch>\n" + good.substr(0, 59));
    EXPECT_STREQ(truncated.message, "truncated member header");
    EXPECT_EQ(truncated.value, 8u);

    std::string bad_magic = good;
    bad_magic[58] = 'X';
    EXPECT_STREQ(parse_error("!<arch>\n" + bad_magic).message, "member header lacks its \"`\\n\" terminator");

    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("a.o/", "1x") + "hi").message, "member size is not a decimal number");
    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("a.o/", "") + "hi").message, "member size is not a decimal number");
    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("a.o/", "-1") + "hi").message, "member size is not a decimal number");

    Error too_long = parse_error("!<arch>\n" + member_header("a.o/", "9999") + "hi");
    EXPECT_EQ(too_long.code, ErrorCode::OutOfRange);
    EXPECT_STREQ(too_long.message, "member data runs past the end of the archive");

    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("a.o/x", "2") + "hi").message,
                 "characters after the \"/\" that ends a member name");
    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("/", "0") + member_header("/", "0")).message,
                 "archive has more than one symbol index");
    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("//", "0") + member_header("//", "0")).message,
                 "archive has more than one long-name table");
    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("/  ", "2") + "hi" + member_header("    /", "0")).message,
                 "symbol index is shorter than its count field");
    EXPECT_EQ(parse_error("!<arch>\n" + member_header("#1/20", "2") + "hi").code, ErrorCode::Unsupported);
}

TEST(Archive, RefusesBadLongNames)
{
    std::string table = "first_long_member_name.o/\n";
    std::string with_table = "!<arch>\n" + member_header("//", std::to_string(table.size())) + table;

    EXPECT_STREQ(parse_error("!<arch>\n" + member_header("/0", "0")).message,
                 "member uses a long name but the archive has no \"//\" table");
    Error out_of_range = parse_error(with_table + member_header("/999", "0"));
    EXPECT_EQ(out_of_range.code, ErrorCode::OutOfRange);
    EXPECT_EQ(out_of_range.value, 999u);
    EXPECT_STREQ(parse_error(with_table + member_header("/1x", "0")).message,
                 "long member name reference is not \"/<decimal>\"");

    std::string unterminated = "no_terminator";
    std::string bad_table = "!<arch>\n" + member_header("//", std::to_string(unterminated.size())) + unterminated + "\n";
    EXPECT_STREQ(parse_error(bad_table + member_header("/0", "0")).message, "long member name is not terminated by \"/\\n\"");

    auto good = Archive::parse(view(text_bytes(with_table + member_header("/0", "0"))));
    ASSERT_FALSE(good.is_error()) << good.error().message;
    EXPECT_EQ(str(good->member(0).name), "first_long_member_name.o");
}

TEST(Archive, RefusesABadSymbolIndex)
{
    auto index_member = [](std::uint32_t count, std::uint32_t offset, const std::string& names) {
        std::string body;
        auto big_endian = [&](std::uint32_t value) {
            for (int shift = 24; shift >= 0; shift -= 8)
                body += static_cast<char>((value >> shift) & 0xff);
        };
        big_endian(count);
        big_endian(offset);
        body += names;
        if (body.size() % 2)
            body += '\0';
        return member_header("/", std::to_string(body.size())) + body;
    };
    std::string first = index_member(1, 0, std::string("sym\0", 4));  // same size as every index below
    std::size_t member_offset = 8 + first.size();
    std::string member = member_header("a.o/", "2") + "hi";

    auto good = Archive::parse(view(text_bytes("!<arch>\n" + index_member(1, member_offset, std::string("sym\0", 4)) + member)));
    ASSERT_FALSE(good.is_error()) << good.error().message;
    ASSERT_EQ(good->symbols().size(), 1u);
    EXPECT_EQ(str(good->symbols()[0].name), "sym");
    EXPECT_EQ(good->symbols()[0].member_index, 0u);

    Error wrong_offset = parse_error("!<arch>\n" + index_member(1, 12, std::string("sym\0", 4)) + member);
    EXPECT_STREQ(wrong_offset.message, "symbol index points at no member header");
    EXPECT_EQ(wrong_offset.value, 12u);

    Error huge_count = parse_error("!<arch>\n" + index_member(0x40000000, member_offset, std::string("sym\0", 4)) + member);
    EXPECT_EQ(huge_count.code, ErrorCode::OutOfRange);
    EXPECT_STREQ(huge_count.message, "symbol index count exceeds the index");

    Error unterminated = parse_error("!<arch>\n" + index_member(1, member_offset, "symb") + member);
    EXPECT_STREQ(unterminated.message, "symbol index name runs past the index");
}
