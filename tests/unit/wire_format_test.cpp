// wire_format_test.cpp: the freestanding wire primitives (varints, tags, fixed, lengths, zigzag,
// UTF-8) agree with libprotobuf's and refuse malformed input with the offset of the damage.
#include <gtest/gtest.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include <random>
#include <string>
#include <vector>

#include "lib/proto/utf8.h"
#include "lib/proto/wire_reader.h"
#include "lib/proto/wire_writer.h"
#include "lib/core/vector.h"

using namespace delos;
using namespace delos::wire;

namespace {

std::string libprotobuf_varint(std::uint64_t value)
{
    std::string out;
    {
        google::protobuf::io::StringOutputStream stream(&out);
        google::protobuf::io::CodedOutputStream coded(&stream);
        coded.WriteVarint64(value);
    }
    return out;
}

std::vector<std::uint8_t> our_varint(std::uint64_t value)
{
    std::vector<std::uint8_t> out(kMaxVarintBytes);
    WireWriter writer(out.data());
    writer.write_varint(value);
    out.resize(static_cast<std::size_t>(writer.cursor() - out.data()));
    return out;
}

ByteView view(const std::vector<std::uint8_t>& bytes) { return ByteView(bytes.data(), bytes.size()); }

std::vector<std::uint64_t> interesting_values()
{
    std::vector<std::uint64_t> values = {0, 1, 127, 128, 255, 300, 16383, 16384, 0xffffffffull, 0x100000000ull,
                                         (1ull << 63) - 1, 1ull << 63, ~0ull};
    for (int bit = 0; bit < 64; ++bit) {
        values.push_back(1ull << bit);
        values.push_back((1ull << bit) - 1);
    }
    return values;
}

} // namespace

TEST(WireFormat, VarintEncodingAndSizeMatchLibprotobuf)
{
    for (std::uint64_t value : interesting_values()) {
        std::string reference = libprotobuf_varint(value);
        std::vector<std::uint8_t> ours = our_varint(value);
        EXPECT_EQ(std::string(ours.begin(), ours.end()), reference) << value;
        EXPECT_EQ(varint_size(value), reference.size()) << value;
        EXPECT_EQ(varint_size(value), google::protobuf::io::CodedOutputStream::VarintSize64(value));

        WireReader reader(view(ours));
        auto decoded = reader.read_varint();
        ASSERT_FALSE(decoded.is_error()) << value;
        EXPECT_EQ(decoded.value(), value);
        EXPECT_TRUE(reader.at_end());
    }
}

TEST(WireFormat, NonCanonicalVarintsWithinTenBytesAreAccepted)
{
    // Spec-legal padding (libprotobuf accepts it too): 0 written as 0x80 0x80 0x00.
    std::vector<std::uint8_t> padded = {0x80, 0x80, 0x00};
    WireReader reader(view(padded));
    EXPECT_EQ(reader.read_varint().value(), 0u);
    EXPECT_TRUE(reader.at_end());
}

TEST(WireFormat, VarintErrorsNameTheirOffset)
{
    std::vector<std::uint8_t> truncated = {0x01, 0xff, 0xff};
    WireReader reader(view(truncated));
    ASSERT_FALSE(reader.read_varint().is_error());
    auto error = reader.read_varint();
    ASSERT_TRUE(error.is_error());
    EXPECT_EQ(error.error().code, ErrorCode::Malformed);
    EXPECT_STREQ(error.error().message, "varint is truncated");
    EXPECT_EQ(error.error().value, 1u);
    EXPECT_EQ(reader.offset(), 1u) << "a failed read consumes nothing";

    std::vector<std::uint8_t> eleven(10, 0x80);
    eleven.push_back(0x01);
    auto too_long = WireReader(view(eleven)).read_varint();
    ASSERT_TRUE(too_long.is_error());
    EXPECT_STREQ(too_long.error().message, "varint is longer than 10 bytes");

    std::vector<std::uint8_t> overflow(9, 0xff);
    overflow.push_back(0x02);  // bit 64 set
    auto overflowed = WireReader(view(overflow)).read_varint();
    ASSERT_TRUE(overflowed.is_error());
    EXPECT_STREQ(overflowed.error().message, "varint overflows 64 bits");

    std::vector<std::uint8_t> max(9, 0xff);
    max.push_back(0x01);
    EXPECT_EQ(WireReader(view(max)).read_varint().value(), ~0ull);

    auto empty = WireReader(ByteView()).read_varint();
    ASSERT_TRUE(empty.is_error());
    EXPECT_STREQ(empty.error().message, "varint is truncated");
}

TEST(WireFormat, NestedReaderErrorsCarryFrameOffsets)
{
    std::vector<std::uint8_t> bytes = {0xff};
    auto error = WireReader(view(bytes), 40).read_varint();
    ASSERT_TRUE(error.is_error());
    EXPECT_EQ(error.error().value, 40u);
}

TEST(WireFormat, TagsAreCheckedLikeLibprotobuf)
{
    auto read_tag = [](std::vector<std::uint8_t> bytes) { return WireReader(view(bytes)).read_tag(); };
    auto ok = read_tag(our_varint(make_tag(kMaxFieldNumber, WireType::Fixed32)));
    ASSERT_FALSE(ok.is_error());
    EXPECT_EQ(ok.value().field_number, kMaxFieldNumber);
    EXPECT_EQ(ok.value().wire_type, WireType::Fixed32);

    auto zero = read_tag({0x02});
    ASSERT_TRUE(zero.is_error());
    EXPECT_STREQ(zero.error().message, "field number 0 is invalid");

    auto bad_type = read_tag({0x0e});  // field 1, wire type 6
    ASSERT_TRUE(bad_type.is_error());
    EXPECT_STREQ(bad_type.error().message, "invalid wire type");
    EXPECT_EQ(bad_type.error().value, 6u);
    EXPECT_TRUE(read_tag({0x0f}).is_error());

    auto wide = read_tag(our_varint(1ull << 32));
    ASSERT_TRUE(wide.is_error());
    EXPECT_STREQ(wide.error().message, "tag exceeds 32 bits");
}

TEST(WireFormat, FixedAndLengthDelimitedBoundsChecks)
{
    std::vector<std::uint8_t> bytes = {0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff};
    WireReader reader(view(bytes));
    EXPECT_EQ(reader.read_fixed32().value(), 0x12345678u);
    auto truncated = reader.read_fixed32();
    ASSERT_TRUE(truncated.is_error());
    EXPECT_STREQ(truncated.error().message, "fixed32 is truncated");
    EXPECT_EQ(truncated.error().value, 4u);
    EXPECT_TRUE(reader.read_fixed64().is_error());

    std::vector<std::uint8_t> sixty_four = {1, 2, 3, 4, 5, 6, 7, 8};
    EXPECT_EQ(WireReader(view(sixty_four)).read_fixed64().value(), 0x0807060504030201ull);

    std::vector<std::uint8_t> delimited = {0x03, 'a', 'b', 'c', 0x05, 'x'};
    WireReader strings(view(delimited));
    auto abc = strings.read_length_delimited();
    ASSERT_FALSE(abc.is_error());
    EXPECT_EQ(abc.value().size(), 3u);
    EXPECT_EQ(abc.value().data(), delimited.data() + 1) << "views the input, no copy";
    auto past_end = strings.read_length_delimited();
    ASSERT_TRUE(past_end.is_error());
    EXPECT_STREQ(past_end.error().message, "length-delimited field runs past the end");
    EXPECT_EQ(past_end.error().value, 4u);

    // A length near 2^64 must not wrap around the bounds check.
    std::vector<std::uint8_t> huge = our_varint(~0ull);
    huge.push_back(0);
    EXPECT_TRUE(WireReader(view(huge)).read_length_delimited().is_error());
}

TEST(WireFormat, SkipsEveryWireTypeButGroups)
{
    std::string encoded;
    {
        google::protobuf::io::StringOutputStream stream(&encoded);
        google::protobuf::io::CodedOutputStream coded(&stream);
        using google::protobuf::internal::WireFormatLite;
        WireFormatLite::WriteUInt64(1, 1ull << 60, &coded);
        WireFormatLite::WriteFixed64(2, 7, &coded);
        WireFormatLite::WriteString(3, "hello", &coded);
        WireFormatLite::WriteFixed32(4, 9, &coded);
        WireFormatLite::WriteUInt32(5, 42, &coded);
    }
    WireReader reader(ByteView(encoded.data(), encoded.size()));
    for (int field = 1; field <= 4; ++field) {
        FieldTag tag = reader.read_tag().value();
        EXPECT_EQ(tag.field_number, static_cast<std::uint32_t>(field));
        ASSERT_FALSE(reader.skip_value(tag).is_error());
    }
    FieldTag last = reader.read_tag().value();
    EXPECT_EQ(reader.read_varint().value(), 42u);
    EXPECT_EQ(last.field_number, 5u);
    EXPECT_TRUE(reader.at_end());

    std::vector<std::uint8_t> group = {0x0b, 0x0c};  // field 1 start group, end group
    WireReader groups(view(group));
    FieldTag start = groups.read_tag().value();
    EXPECT_EQ(start.wire_type, WireType::StartGroup);
    auto refused = groups.skip_value(start);
    ASSERT_TRUE(refused.is_error());
    EXPECT_EQ(refused.error().code, ErrorCode::Unsupported);
    EXPECT_STREQ(refused.error().message, "groups are not supported");
}

TEST(WireFormat, ZigzagMatchesLibprotobuf)
{
    using google::protobuf::internal::WireFormatLite;
    std::vector<std::int64_t> values = {0, 1, -1, 2, -2, 63, -64, 1ll << 40, -(1ll << 40), INT64_MAX, INT64_MIN};
    for (std::int64_t value : values) {
        EXPECT_EQ(zigzag_encode(value), WireFormatLite::ZigZagEncode64(value)) << value;
        EXPECT_EQ(zigzag_decode(zigzag_encode(value)), value);
    }
    EXPECT_EQ(zigzag_encode(-1), 1u);
    EXPECT_EQ(zigzag_encode(1), 2u);
}

TEST(WireFormat, Utf8ValidationAgreesWithLibprotobuf)
{
    std::vector<std::string> cases = {
        "", "plain", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
        "\xc0\x80",          // overlong NUL
        "\xe0\x80\xaf",      // overlong '/'
        "\xed\xa0\x80",      // surrogate
        "\xf4\x90\x80\x80",  // past U+10FFFF
        "\xf5\x80\x80\x80", "\x80", "\xc3", "\xe6\x97", "ok\xff",
    };
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        std::string random(rng() % 8, '\0');
        for (char& c : random) {
            // Bias towards bytes that form or almost form multi-byte sequences.
            static const unsigned char pool[] = {0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2,
                                                 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
            c = static_cast<char>(pool[rng() % sizeof pool]);
        }
        cases.push_back(random);
    }
    for (const std::string& text : cases) {
        bool reference = google::protobuf::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(text.size()));
        ASSERT_EQ(is_valid_utf8(text.data(), text.size()), reference) << "bytes: " << ::testing::PrintToString(text);

        std::string sanitised(text.size(), '\0');
        copy_as_valid_utf8(reinterpret_cast<std::uint8_t*>(sanitised.data()), text.data(), text.size());
        EXPECT_TRUE(is_valid_utf8(sanitised.data(), sanitised.size()));
        if (reference)
            EXPECT_EQ(sanitised, text);
    }
}

TEST(WireFormat, VectorBulkAppendsUsedByEncodersAndFraming)
{
    Vector<std::uint8_t> bytes;
    const std::uint8_t chunk[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 1000; ++i)
        bytes.extend(chunk, sizeof chunk);
    ASSERT_EQ(bytes.size(), 5000u);
    EXPECT_EQ(bytes[4999], 5);
    EXPECT_LE(bytes.capacity(), 2u * 8192) << "growth is geometric, not per call";
    std::uint8_t* tail = bytes.grow_uninitialized(3);
    EXPECT_EQ(tail, bytes.data() + 5000);
    tail[0] = 9;
    EXPECT_EQ(bytes.size(), 5003u);
    EXPECT_EQ(bytes[5000], 9);
    bytes.extend(nullptr, 0);
    EXPECT_EQ(bytes.size(), 5003u);

    Vector<std::string> strings;
    const std::string words[2] = {"a", "bc"};
    strings.extend(words, 2);
    strings.extend(words, 1);
    ASSERT_EQ(strings.size(), 3u);
    EXPECT_EQ(strings[1], "bc");
    EXPECT_EQ(strings[2], "a");
}
