// fw_cfg_directory_test.cpp: the guest's parsing of QEMU fw_cfg directory entries and of the VM
// generation value a snapshot clone is given (hostile bytes: cut names, long and odd values).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "lib/fw_cfg/fw_cfg_directory.h"

namespace delos::fw_cfg {
namespace {

std::string text(StringView view) { return std::string(view.data(), view.size()); }

TEST(FwCfgDirectory, ParsesTheCountAndRefusesAHugeOne)
{
    const std::uint8_t three[] = {0, 0, 0, 3};
    ASSERT_FALSE(parse_directory_count(ByteView(three, 4)).is_error());
    EXPECT_EQ(parse_directory_count(ByteView(three, 4)).value(), 3u);
    const std::uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    EXPECT_TRUE(parse_directory_count(ByteView(huge, 4)).is_error());
    EXPECT_TRUE(parse_directory_count(ByteView(three, 3)).is_error());
}

TEST(FwCfgDirectory, ParsesAnEntryBigEndian)
{
    std::uint8_t entry[kDirectoryEntryBytes] = {0, 0, 0x01, 0x02, 0x00, 0x21, 0, 0};
    std::memcpy(entry + 8, kGenerationFileName, sizeof kGenerationFileName);
    auto parsed = parse_directory_entry(ByteView(entry, sizeof entry));
    ASSERT_FALSE(parsed.is_error());
    EXPECT_EQ(parsed.value().size, 0x102u);
    EXPECT_EQ(parsed.value().selector, 0x21);
    EXPECT_EQ(text(parsed.value().name), kGenerationFileName);
}

TEST(FwCfgDirectory, RefusesAnUnterminatedNameOrAShortEntry)
{
    std::uint8_t entry[kDirectoryEntryBytes];
    std::memset(entry, 'a', sizeof entry);
    EXPECT_TRUE(parse_directory_entry(ByteView(entry, sizeof entry)).is_error());
    entry[kDirectoryEntryBytes - 1] = 0;  // 55 characters and a NUL: accepted
    auto parsed = parse_directory_entry(ByteView(entry, sizeof entry));
    ASSERT_FALSE(parsed.is_error());
    EXPECT_EQ(parsed.value().name.size(), 55u);
    EXPECT_TRUE(parse_directory_entry(ByteView(entry, 63)).is_error());
}

TEST(FwCfgDirectory, AcceptsABoundedPlainGeneration)
{
    const char value[] = "clone-7.a_B";
    auto parsed = parse_generation(ByteView(value, sizeof value - 1));
    ASSERT_FALSE(parsed.is_error());
    EXPECT_EQ(text(parsed.value()), "clone-7.a_B");
    auto with_nul = parse_generation(ByteView(value, sizeof value));  // one trailing NUL is allowed
    ASSERT_FALSE(with_nul.is_error());
    EXPECT_EQ(text(with_nul.value()), "clone-7.a_B");
    std::string longest(kMaxGenerationBytes, 'x');
    EXPECT_FALSE(parse_generation(ByteView(longest.data(), longest.size())).is_error());
}

TEST(FwCfgDirectory, RefusesEmptyLongOrOddGenerations)
{
    EXPECT_TRUE(parse_generation(ByteView("", 0)).is_error());
    const std::uint8_t nul[] = {0};
    EXPECT_TRUE(parse_generation(ByteView(nul, 1)).is_error());
    std::string too_long(kMaxGenerationBytes + 1, 'x');
    EXPECT_TRUE(parse_generation(ByteView(too_long.data(), too_long.size())).is_error());
    for (const char* odd : {"a b", "a\nb", "a/b", "a\0b", "\xff"})
        EXPECT_TRUE(parse_generation(ByteView(odd, odd[0] == 'a' ? 3 : 1)).is_error()) << odd;
}

} // namespace
} // namespace delos::fw_cfg
