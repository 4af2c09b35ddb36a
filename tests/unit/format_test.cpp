// format_test.cpp: the freestanding formatter renders every supported spec exactly.
#include <gtest/gtest.h>

#include <string>

#include "lib/core/format.h"

using namespace delos;

namespace {
template <typename... Args>
std::string render(const char* format_string, const Args&... args)
{
    String out = format(format_string, args...);
    return std::string(out.data() ? out.data() : "", out.size());
}
} // namespace

TEST(Format, IntegersInEveryBase)
{
    EXPECT_EQ(render("{} {} {}", 0, -42, 18446744073709551615ull), "0 -42 18446744073709551615");
    EXPECT_EQ(render("{:x} {:X} {:#x} {:b} {:#b}", 255u, 255u, 255u, 5u, 5u), "ff FF 0xff 101 0b101");
    EXPECT_EQ(render("{:016x}", 0xdeadbeefull), "00000000deadbeef");
    EXPECT_EQ(render("{:#010x}", 0xbeefu), "0x0000beef");
    EXPECT_EQ(render("{}", static_cast<std::int64_t>(-9223372036854775807ll - 1)), "-9223372036854775808");
}

TEST(Format, TextWidthAndAlignment)
{
    EXPECT_EQ(render("[{:8}]", "kv"), "[      kv]");
    EXPECT_EQ(render("[{:<8}]", "kv"), "[kv      ]");
    EXPECT_EQ(render("[{:>4}]", 7), "[   7]");
    EXPECT_EQ(render("{} {} {}", true, 'c', StringView("view")), "true c view");
}

TEST(Format, BracesPointersAndMissingArguments)
{
    EXPECT_EQ(render("{{}} {}", 1), "{} 1");
    EXPECT_EQ(render("{}", reinterpret_cast<void*>(0x1000)), "0x1000");
    EXPECT_EQ(render("{} {}", 1), "1 {?}");
    EXPECT_EQ(render("unterminated {", 1), "unterminated {");
}

TEST(Format, FixedBufferNeverOverflows)
{
    char buffer[8];
    FixedBufferSink sink(buffer, sizeof buffer);
    format_to(sink, "{} {}", 123456, 789);
    EXPECT_TRUE(sink.truncated());
    EXPECT_EQ(std::string(sink.view().data(), sink.view().size()), "123456 7");
}
