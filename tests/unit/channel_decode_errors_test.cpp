// channel_decode_errors_test.cpp: malformed and hostile input gets a specific error (code,
// reason, offending value) from the channel codec, never a crash or silently wrong data;
// plus the protocol rules decode_host_message enforces and proto3 merge semantics.
#include <gtest/gtest.h>

#include <google/protobuf/unknown_field_set.h>

#include <string>
#include <vector>

#include "delos/v1/channel.pb.h"
#include "lib/proto/channel_codec.h"
#include "lib/proto/message_codec.h"

using namespace delos;
using namespace delos::channel;
namespace v1 = delos::v1;

namespace {

ByteView view(const std::string& bytes) { return ByteView(bytes.data(), bytes.size()); }

std::string bytes(std::initializer_list<int> values)
{
    std::string out;
    for (int value : values)
        out += static_cast<char>(value);
    return out;
}

std::string varint(std::uint64_t value)
{
    std::string out;
    while (value >= 0x80) {
        out += static_cast<char>(value | 0x80);
        value >>= 7;
    }
    out += static_cast<char>(value);
    return out;
}

std::string field(std::uint32_t number, int wire_type) { return varint((number << 3) | wire_type); }
std::string length_delimited(std::uint32_t number, const std::string& payload)
{
    return field(number, 2) + varint(payload.size()) + payload;
}

void expect_error(const Error& error, ErrorCode code, const char* message, std::uint64_t value)
{
    EXPECT_EQ(error.code, code) << error_code_name(error.code) << ": " << error.message;
    EXPECT_STREQ(error.message, message);
    EXPECT_TRUE(error.has_value);
    EXPECT_EQ(error.value, value);
}

template <typename Result>
Error error_of(Result&& result)
{
    EXPECT_TRUE(result.is_error());
    return result.is_error() ? result.error() : Error{};
}

std::string valid_ping(std::uint64_t request_id)
{
    v1::HostMessage message;
    message.set_request_id(request_id);
    message.mutable_ping();
    return message.SerializeAsString();
}

// A chain of nested message types, deeper than the channel schema ever nests.
template <std::uint32_t Depth>
struct Level {
    Level<Depth - 1> child;
    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.message(1, self.child); }
};
template <>
struct Level<0> {
    std::uint32_t leaf = 0;
    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.uint32(1, self.leaf); }
};

} // namespace

TEST(ChannelDecodeErrors, TruncatedAndOverlongVarints)
{
    // request_id varint cut short after its tag.
    expect_error(error_of(decode_host_message(view(bytes({0x08, 0x80})))), ErrorCode::Malformed,
                 "varint is truncated", 1);
    std::string eleven = bytes({0x08}) + std::string(10, '\x80') + bytes({0x01});
    expect_error(error_of(decode_host_message(view(eleven))), ErrorCode::Malformed, "varint is longer than 10 bytes", 1);
    std::string overflow = bytes({0x08}) + std::string(9, '\xff') + bytes({0x7f});
    expect_error(error_of(decode_host_message(view(overflow))), ErrorCode::Malformed, "varint overflows 64 bits", 1);
}

TEST(ChannelDecodeErrors, LengthPastTheEndAtTheRightOffset)
{
    std::string message = valid_ping(9) + field(12, 2) + varint(50) + "short";
    std::size_t length_offset = valid_ping(9).size() + 1;
    expect_error(error_of(decode_host_message(view(message))), ErrorCode::Malformed,
                 "length-delimited field runs past the end", length_offset);
}

TEST(ChannelDecodeErrors, WrongWireTypeForAKnownField)
{
    // request_id (field 1) sent as fixed64.
    std::string message = field(1, 1) + std::string(8, '\x01') + valid_ping(5).substr(2);
    expect_error(error_of(decode_host_message(view(message))), ErrorCode::Malformed, "field has the wrong wire type", 1);
    // hello (field 10) sent as a varint.
    std::string hello_as_varint = bytes({0x08, 0x05}) + field(10, 0) + varint(3);
    expect_error(error_of(decode_host_message(view(hello_as_varint))), ErrorCode::Malformed,
                 "field has the wrong wire type", 10);
}

TEST(ChannelDecodeErrors, GroupOnAKnownFieldIsAGroupNotAWrongWireType)
{
    // request_id (field 1) and hello (field 10) sent as start-group tags.
    expect_error(error_of(decode_host_message(view(field(1, 3) + field(1, 4)))), ErrorCode::Unsupported,
                 "groups are not supported", 1);
    expect_error(error_of(decode_host_message(view(bytes({0x08, 0x05}) + field(10, 3)))), ErrorCode::Unsupported,
                 "groups are not supported", 10);
    // An end-group tag on a known field inside a nested message: hello { min_version }.
    expect_error(error_of(decode_host_message(view(bytes({0x08, 0x05}) + length_delimited(10, field(1, 4))))),
                 ErrorCode::Unsupported, "groups are not supported", 1);
}

TEST(ChannelDecodeErrors, ZeroLengthFrameCarriesNoRequest)
{
    // Empty: neither a request id nor a request; what is missing is said first.
    Error empty = error_of(decode_host_message(ByteView()));
    EXPECT_EQ(empty.code, ErrorCode::Malformed);
    EXPECT_STREQ(empty.message, "message carries no request");
    EXPECT_FALSE(empty.has_value);
}

TEST(ChannelDecodeErrors, NestedGarbageNamesItsOffsetInTheFrame)
{
    // hello { min_version: <truncated varint> } after request_id.
    std::string hello = bytes({0x08, 0xff});
    std::string message = bytes({0x08, 0x05}) + length_delimited(10, hello);
    // Offsets: request_id tag+value (2), hello tag (1) and length (1), then min_version's tag.
    expect_error(error_of(decode_host_message(view(message))), ErrorCode::Malformed, "varint is truncated", 5);

    // A group inside a nested message.
    std::string with_group = bytes({0x08, 0x05}) + length_delimited(10, field(7, 3) + field(7, 4));
    expect_error(error_of(decode_host_message(view(with_group))), ErrorCode::Unsupported, "groups are not supported", 7);

    // An invalid wire type deep in a GuestMessage: reply { list_cells { cells { name: 7/wire 7 } } }.
    std::string cell = field(1, 7);
    std::string guest = length_delimited(1, length_delimited(12, length_delimited(1, cell)));
    expect_error(error_of(decode_guest_message(view(guest))), ErrorCode::Malformed, "invalid wire type", 7);
}

TEST(ChannelDecodeErrors, ValuesOutOfRangeForTheirField)
{
    // push_commit { push_id: 2^32 }
    std::string commit = bytes({0x08, 0x01}) + length_delimited(15, field(1, 0) + varint(1ull << 32));
    expect_error(error_of(decode_host_message(view(commit))), ErrorCode::Overflow, "uint32 field value exceeds 32 bits", 1);

    // reply { status { code: 2^40 } }
    std::string status = length_delimited(1, length_delimited(2, field(1, 0) + varint(1ull << 40)));
    expect_error(error_of(decode_guest_message(view(status))), ErrorCode::Overflow, "enum value exceeds int32", 1);

    // load_cell { name: "\xff" }
    std::string bad_name = bytes({0x08, 0x01}) + length_delimited(17, length_delimited(1, "\xff"));
    expect_error(error_of(decode_host_message(view(bad_name))), ErrorCode::Malformed, "string field is not valid UTF-8", 1);

    // push_begin with a 31-byte digest.
    std::string begin = bytes({0x08, 0x01}) + length_delimited(13, length_delimited(1, "kv") + length_delimited(3, std::string(31, 'd')));
    expect_error(error_of(decode_host_message(view(begin))), ErrorCode::Malformed, "sha256 digest must be 32 bytes", 31);
}

TEST(ChannelDecodeErrors, RepeatedFieldsAreCapped)
{
    v1::GuestMessage message;
    auto* fault = message.mutable_event()->mutable_fault_report();
    for (std::uint32_t i = 0; i <= kMaxBacktraceFrames; ++i)
        fault->add_backtrace()->set_address(i);
    std::string encoded = message.SerializeAsString();
    expect_error(error_of(decode_guest_message(view(encoded))), ErrorCode::OutOfRange, "too many repeated elements", 12);

    fault->mutable_backtrace()->RemoveLast();
    encoded = message.SerializeAsString();
    auto decoded = decode_guest_message(view(encoded));
    ASSERT_FALSE(decoded.is_error());
    EXPECT_EQ(decoded.value().event.fault_report.backtrace.size(), kMaxBacktraceFrames);
}

TEST(ChannelDecodeErrors, NestingDepthIsLimited)
{
    using Deep = Level<kMaxNestingDepth + 2>;
    // kMaxNestingDepth levels of messages (depths 0 .. limit-1) decode; one more does not.
    std::string nested;
    for (std::uint32_t depth = 0; depth < kMaxNestingDepth - 1; ++depth)
        nested = length_delimited(1, nested);
    EXPECT_FALSE(wire::decode<Deep>(view(nested)).is_error()) << "the deepest allowed nesting decodes";
    nested = length_delimited(1, nested);
    expect_error(error_of(wire::decode<Deep>(view(nested))), ErrorCode::Unsupported, "messages nested too deeply", kMaxNestingDepth);
}

TEST(ChannelDecodeErrors, ProtocolRulesOfRequests)
{
    auto check = [](const v1::HostMessage& message, ErrorCode code, const char* reason, std::uint64_t value, bool has_value = true) {
        std::string encoded = message.SerializeAsString();
        Error error = error_of(decode_host_message(view(encoded)));
        EXPECT_EQ(error.code, code) << reason;
        EXPECT_STREQ(error.message, reason);
        EXPECT_EQ(error.has_value, has_value) << reason;
        if (has_value)
            EXPECT_EQ(error.value, value) << reason;
    };
    v1::HostMessage message;
    message.mutable_ping();
    check(message, ErrorCode::InvalidArgument, "request id 0 is reserved", 0, false);

    message.Clear();
    message.set_request_id(1);
    check(message, ErrorCode::Malformed, "message carries no request", 0, false);

    // A newer host's request kind (field 40) this guest does not know.
    message.GetReflection()->MutableUnknownFields(&message)->AddLengthDelimited(40, "");
    check(message, ErrorCode::Unsupported, "request is unknown to this guest", 40);

    message.Clear();
    message.set_request_id(1);
    message.mutable_push_chunk()->set_data(std::string(kMaxChunkBytes + 1, 'c'));
    check(message, ErrorCode::OutOfRange, "push chunk exceeds the chunk limit", kMaxChunkBytes + 1);

    message.Clear();
    message.set_request_id(1);
    message.mutable_push_begin()->set_name("kv");
    message.mutable_push_begin()->set_total_size(100);
    check(message, ErrorCode::Malformed, "push begin carries no sha256 digest", 0, false);
    message.mutable_push_begin()->set_sha256(std::string(32, 's'));
    message.mutable_push_begin()->set_total_size(kMaxCellBytes + 1);
    check(message, ErrorCode::OutOfRange, "cell size exceeds the limit", kMaxCellBytes + 1);
    message.mutable_push_begin()->set_total_size(100);
    message.mutable_push_begin()->set_name("");
    check(message, ErrorCode::InvalidArgument, "cell name is empty", 0, false);
    message.mutable_push_begin()->set_name(std::string(kMaxCellNameBytes + 1, 'n'));
    check(message, ErrorCode::InvalidArgument, "cell name is too long", kMaxCellNameBytes + 1);

    message.Clear();
    message.set_request_id(1);
    message.mutable_unload_cell();
    check(message, ErrorCode::InvalidArgument, "cell name is empty", 0, false);

    message.Clear();
    message.set_request_id(1);
    message.mutable_hello()->set_min_version(3);
    message.mutable_hello()->set_max_version(2);
    check(message, ErrorCode::InvalidArgument, "hello version range is empty", 3);
}

TEST(ChannelDecodeErrors, ValidRequestsPassTheProtocolRules)
{
    v1::HostMessage message;
    message.set_request_id(42);
    auto* begin = message.mutable_push_begin();
    begin->set_name("kv");
    begin->set_total_size(kMaxCellBytes);
    begin->set_sha256(std::string(32, '\x5a'));
    std::string encoded = message.SerializeAsString();
    auto decoded = decode_host_message(view(encoded));
    ASSERT_FALSE(decoded.is_error()) << decoded.error().message;
    EXPECT_EQ(decoded.value().request, HostMessage::Request::PushBegin);
    EXPECT_TRUE(decoded.value().push_begin.has_sha256);
    EXPECT_EQ(decoded.value().push_begin.sha256.bytes[31], 0x5a);

    message.Clear();
    message.set_request_id(43);
    message.mutable_push_chunk()->set_data(std::string(kMaxChunkBytes, 'c'));
    encoded = message.SerializeAsString();
    decoded = decode_host_message(view(encoded));
    ASSERT_FALSE(decoded.is_error());
    EXPECT_EQ(decoded.value().push_chunk.data.size(), kMaxChunkBytes);
    EXPECT_GE(decoded.value().push_chunk.data.data(), reinterpret_cast<const std::uint8_t*>(encoded.data()));
    EXPECT_LT(decoded.value().push_chunk.data.data(), reinterpret_cast<const std::uint8_t*>(encoded.data() + encoded.size()))
        << "chunk data is a view into the frame";
}

TEST(ChannelDecodeErrors, UnknownFieldsAnywhereAreSkipped)
{
    // Unknown fields of every wire type before, between and after the known ones.
    std::string message = field(99, 0) + varint(1ull << 50) + field(98, 1) + std::string(8, 'x') + bytes({0x08, 0x07})
                        + field(97, 5) + std::string(4, 'y') + length_delimited(96, "opaque")
                        + length_delimited(17, field(50, 0) + varint(1) + length_delimited(1, "kv") + field(51, 5) + "zzzz")
                        + field(5, 0) + varint(3);  // a reserved envelope field
    auto decoded = decode_host_message(view(message));
    ASSERT_FALSE(decoded.is_error()) << decoded.error().message;
    EXPECT_EQ(decoded.value().request_id, 7u);
    EXPECT_EQ(decoded.value().request, HostMessage::Request::LoadCell);
    EXPECT_EQ(decoded.value().load_cell.name, StringView("kv"));
}

TEST(ChannelDecodeErrors, UnknownEventKindsDecodeAsNone)
{
    v1::GuestMessage message;
    message.mutable_event()->set_sequence(9);
    message.mutable_event()->GetReflection()->MutableUnknownFields(message.mutable_event())->AddLengthDelimited(30, "new");
    std::string encoded = message.SerializeAsString();
    auto decoded = decode_guest_message(view(encoded));
    ASSERT_FALSE(decoded.is_error());
    EXPECT_EQ(decoded.value().kind, GuestMessage::Kind::Event);
    EXPECT_EQ(decoded.value().event.kind, Event::Kind::None);
    EXPECT_EQ(decoded.value().event.sequence, 9u);

    Error empty = error_of(decode_guest_message(view(std::string())));
    EXPECT_EQ(empty.code, ErrorCode::Malformed);
    EXPECT_STREQ(empty.message, "message carries neither reply nor event");
}

TEST(ChannelDecodeErrors, Proto3MergeSemantics)
{
    // Scalars: the last one wins. Embedded messages: repeated occurrences merge.
    std::string message = bytes({0x08, 0x01, 0x08, 0x02}) + length_delimited(10, field(1, 0) + varint(1))
                        + length_delimited(10, field(2, 0) + varint(4));
    auto decoded = decode_host_message(view(message));
    ASSERT_FALSE(decoded.is_error());
    EXPECT_EQ(decoded.value().request_id, 2u);
    EXPECT_EQ(decoded.value().hello.min_version, 1u);
    EXPECT_EQ(decoded.value().hello.max_version, 4u);

    // Oneof: a later member replaces an earlier one, which starts clean if it comes back.
    std::string switching = bytes({0x08, 0x01}) + length_delimited(17, length_delimited(1, "old"))
                          + length_delimited(11, "") + length_delimited(17, "");
    decoded = decode_host_message(view(switching));
    ASSERT_TRUE(decoded.is_error()) << "load_cell with no name";
    std::string switched = bytes({0x08, 0x01}) + length_delimited(17, length_delimited(1, "old")) + length_delimited(11, "");
    decoded = decode_host_message(view(switched));
    ASSERT_FALSE(decoded.is_error());
    EXPECT_EQ(decoded.value().request, HostMessage::Request::Ping);

    v1::HostMessage theirs;
    ASSERT_TRUE(theirs.ParseFromString(switched));
    EXPECT_TRUE(theirs.has_ping()) << "libprotobuf agrees";
}

TEST(ChannelDecodeErrors, PeekRequestIdSurvivesDamageAfterIt)
{
    std::string damaged = bytes({0x08}) + varint(555) + field(13, 2) + varint(1000) + "cut";
    EXPECT_TRUE(decode_host_message(view(damaged)).is_error());
    EXPECT_EQ(peek_request_id(view(damaged)), 555u);
    EXPECT_EQ(peek_request_id(view(bytes({0xff}))), 0u);
    EXPECT_EQ(peek_request_id(ByteView()), 0u);
}

TEST(ChannelDecodeErrors, GuestStringsAreKeptValidForLibprotobuf)
{
    // A cell logs bytes that are not UTF-8; libprotobuf would refuse the whole frame, so the
    // encoder replaces the bad bytes and keeps the length.
    Event event;
    event.kind = Event::Kind::LogLine;
    event.log_line.text = String(StringView("ok \xff\xfe caf\xc3\xa9 \xe6\x97", 14));
    GuestMessage message = GuestMessage::make_event(std::move(event));
    Vector<std::uint8_t> frame;
    ASSERT_FALSE(append_frame(frame, message).is_error());
    v1::GuestMessage theirs;
    ASSERT_TRUE(theirs.ParseFromArray(frame.data() + 4, static_cast<int>(frame.size() - 4)));
    EXPECT_EQ(theirs.event().log_line().text(), "ok ?? caf\xc3\xa9 ??");
}

TEST(ChannelDecodeErrors, StatusCarriesTheGuestErrorUnchanged)
{
    Error error = Error::make(ErrorCode::Busy, "cell has running tasks", 3);
    GuestMessage message = GuestMessage::make_error_reply(17, error);
    Vector<std::uint8_t> frame;
    ASSERT_FALSE(append_frame(frame, message).is_error());
    v1::GuestMessage theirs;
    ASSERT_TRUE(theirs.ParseFromArray(frame.data() + 4, static_cast<int>(frame.size() - 4)));
    EXPECT_EQ(theirs.reply().request_id(), 17u);
    EXPECT_EQ(theirs.reply().status().code(), v1::STATUS_BUSY);
    EXPECT_EQ(theirs.reply().status().reason(), "cell has running tasks");
    EXPECT_TRUE(theirs.reply().status().has_value());
    EXPECT_EQ(theirs.reply().status().value(), 3u);
    EXPECT_EQ(theirs.reply().payload_case(), v1::Reply::PAYLOAD_NOT_SET);

    // Every ErrorCode has the StatusCode of the same number and name.
    for (int code = 1; code <= static_cast<int>(ErrorCode::Internal); ++code) {
        const auto* value = v1::StatusCode_descriptor()->FindValueByNumber(code);
        ASSERT_NE(value, nullptr) << code;
        std::string expected = error_code_name(static_cast<ErrorCode>(code));
        for (char& c : expected)
            c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
        EXPECT_EQ(value->name(), "STATUS_" + expected);
    }
}

TEST(ChannelDecodeErrors, VersionNegotiation)
{
    HelloRequest hello;
    hello.min_version = 1;
    hello.max_version = 7;
    EXPECT_EQ(negotiate_version(hello).value(), kProtocolVersionMax);
    hello.min_version = kProtocolVersionMax + 1;
    hello.max_version = kProtocolVersionMax + 3;
    expect_error(error_of(negotiate_version(hello)), ErrorCode::Unsupported, "no protocol version in common",
                 kProtocolVersionMax + 3);
}
