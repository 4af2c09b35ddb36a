// relocation_test.cpp: the x86-64 relocation arithmetic for each supported type, its overflow
// limits, and that a refused relocation writes nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "lib/elf/elf64.h"
#include "linker/relocatable_object.h"
#include "linker/relocation.h"

using namespace delos;
using namespace delos::link;
using namespace delos::elf;

namespace {

struct Patch {
    std::uint8_t bytes[16];
    Patch() { std::memset(bytes, 0xaa, sizeof bytes); }

    ErrorOr<void> apply(std::uint32_t type, std::uint64_t place, std::uint64_t symbol, std::int64_t addend,
                        std::uint64_t got_slot = 0)
    {
        RelocationSite site;
        site.type = type;
        site.place = bytes + 4;
        site.place_address = place;
        site.symbol_address = symbol;
        site.addend = addend;
        site.got_slot_address = got_slot;
        return apply_relocation(site);
    }
    std::uint32_t u32() const
    {
        std::uint32_t value;
        std::memcpy(&value, bytes + 4, 4);
        return value;
    }
    std::int32_t s32() const { return static_cast<std::int32_t>(u32()); }
    std::uint64_t u64() const
    {
        std::uint64_t value;
        std::memcpy(&value, bytes + 4, 8);
        return value;
    }
    bool untouched() const
    {
        for (std::uint8_t byte : bytes) {
            if (byte != 0xaa)
                return false;
        }
        return true;
    }
};

} // namespace

TEST(Relocation, Absolute64IsSymbolPlusAddend)
{
    Patch patch;
    ASSERT_FALSE(patch.apply(R_X86_64_64, 0x1000, 0x40001230, 16).is_error());
    EXPECT_EQ(patch.u64(), 0x40001240u);
    EXPECT_EQ(patch.bytes[3], 0xaa);
    EXPECT_EQ(patch.bytes[12], 0xaa);
    ASSERT_FALSE(patch.apply(R_X86_64_64, 0x1000, 0xffff800000000000ull, -1).is_error());
    EXPECT_EQ(patch.u64(), 0xffff7fffffffffffull);
}

TEST(Relocation, PcRelativeIsSymbolPlusAddendMinusPlace)
{
    Patch call;
    ASSERT_FALSE(call.apply(R_X86_64_PLT32, 0x40000101, 0x40200000, -4).is_error());
    EXPECT_EQ(call.s32(), 0x40200000 - 4 - 0x40000101);
    Patch backwards;
    ASSERT_FALSE(backwards.apply(R_X86_64_PC32, 0x40200000, 0x40000000, -4).is_error());
    EXPECT_EQ(backwards.s32(), -0x200004);
    Patch wide;
    ASSERT_FALSE(wide.apply(R_X86_64_PC64, 0x1000, 0x7f0000000000ull, 8).is_error());
    EXPECT_EQ(wide.u64(), 0x7f0000000008ull - 0x1000);
}

TEST(Relocation, PcRelative32RefusesDistancesBeyondTwoGigabytes)
{
    Patch at_limit;
    EXPECT_FALSE(at_limit.apply(R_X86_64_PC32, 0, 0x7fffffff, 0).is_error());
    EXPECT_EQ(at_limit.s32(), 0x7fffffff);
    Patch lowest;
    EXPECT_FALSE(lowest.apply(R_X86_64_PC32, 0x80000000, 0, 0).is_error());
    EXPECT_EQ(lowest.s32(), INT32_MIN);

    Patch beyond;
    auto refused = beyond.apply(R_X86_64_PC32, 0, 0x80000000, 0);
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(refused.error().code, ErrorCode::Overflow);
    EXPECT_EQ(refused.error().value, 0x80000000u);
    EXPECT_TRUE(beyond.untouched());

    Patch below;
    EXPECT_EQ(below.apply(R_X86_64_PLT32, 0x80000001, 0, 0).error().code, ErrorCode::Overflow);
    EXPECT_TRUE(below.untouched());
}

TEST(Relocation, Absolute32IsUnsignedAnd32SIsSigned)
{
    Patch unsigned_top;
    EXPECT_FALSE(unsigned_top.apply(R_X86_64_32, 0, 0xfffffff0, 0xf).is_error());
    EXPECT_EQ(unsigned_top.u32(), 0xffffffffu);
    Patch unsigned_over;
    auto over = unsigned_over.apply(R_X86_64_32, 0, 0xfffffff0, 0x10);
    ASSERT_TRUE(over.is_error());
    EXPECT_EQ(over.error().value, 0x100000000u);
    EXPECT_TRUE(unsigned_over.untouched());
    Patch negative;
    EXPECT_EQ(negative.apply(R_X86_64_32, 0, 0x10, -0x11).error().code, ErrorCode::Overflow);

    Patch signed_top;
    EXPECT_FALSE(signed_top.apply(R_X86_64_32S, 0, 0x7fffffff, 0).is_error());
    Patch signed_over;
    EXPECT_EQ(signed_over.apply(R_X86_64_32S, 0, 0x80000000, 0).error().code, ErrorCode::Overflow);
    EXPECT_TRUE(signed_over.untouched());
    Patch kernel_half;  // -2 GiB .. 0 is fine for 32S (sign-extended), as in the kernel code model
    EXPECT_FALSE(kernel_half.apply(R_X86_64_32S, 0, 0xffffffff80000000ull, 0).is_error());
    EXPECT_EQ(kernel_half.u32(), 0x80000000u);
}

TEST(Relocation, GotRelocationsPointAtTheSlotNotTheSymbol)
{
    for (std::uint32_t type : {R_X86_64_GOTPCREL, R_X86_64_GOTPCRELX, R_X86_64_REX_GOTPCRELX}) {
        Patch patch;
        ASSERT_FALSE(patch.apply(type, 0x40000010, 0x7f0000000000ull, -4, 0x40003000).is_error());
        EXPECT_EQ(patch.s32(), 0x40003000 - 4 - 0x40000010);
        Patch no_slot;
        EXPECT_EQ(no_slot.apply(type, 0x40000010, 0x1000, -4).error().code, ErrorCode::Internal);
        EXPECT_TRUE(no_slot.untouched());
        EXPECT_TRUE(relocation_uses_got(type));
    }
    EXPECT_FALSE(relocation_uses_got(R_X86_64_PC32));
}

TEST(Relocation, UnknownTypesAreRefusedWithTheirNumber)
{
    for (std::uint32_t type : {3u /* GOT32 */, 8u /* RELATIVE */, 25u /* GOTOFF64 */, 37u, 1000u}) {
        Patch patch;
        auto refused = patch.apply(type, 0, 0, 0);
        ASSERT_TRUE(refused.is_error());
        EXPECT_EQ(refused.error().code, ErrorCode::Unsupported);
        EXPECT_EQ(refused.error().value, type);
        EXPECT_TRUE(patch.untouched());
        EXPECT_FALSE(is_supported_relocation(type));
    }
    Patch none;
    EXPECT_FALSE(none.apply(R_X86_64_NONE, 0, 0, 0).is_error());
    EXPECT_TRUE(none.untouched());
}

TEST(Relocation, NamesAndWidths)
{
    EXPECT_STREQ(relocation_type_name(R_X86_64_PLT32), "R_X86_64_PLT32");
    EXPECT_STREQ(relocation_type_name(R_X86_64_REX_GOTPCRELX), "R_X86_64_REX_GOTPCRELX");
    EXPECT_STREQ(relocation_type_name(999), "unknown");
    EXPECT_EQ(relocation_width(R_X86_64_64), 8u);
    EXPECT_EQ(relocation_width(R_X86_64_PC64), 8u);
    EXPECT_EQ(relocation_width(R_X86_64_32S), 4u);
    EXPECT_EQ(relocation_width(R_X86_64_GOTPCRELX), 4u);
    EXPECT_EQ(relocation_width(R_X86_64_NONE), 0u);
    EXPECT_EQ(relocation_width(999), 0u);
}
