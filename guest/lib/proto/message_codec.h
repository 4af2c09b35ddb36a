// message_codec.h: encodes and decodes any message struct that lists its fields once, in a
// static visit_fields(visitor, self), with the same field numbers as its .proto message.
//
//   struct HelloRequest {
//       std::uint32_t min_version = 0; String host_name;
//       template <typename V, typename Self> static void visit_fields(V& v, Self& self)
//       { v.uint32(1, self.min_version); v.string(3, self.host_name); }
//   };
//
// Three visitors walk that list: one sizes, one writes (so encoding is two-pass and exact),
// one decodes a single field. Proto3 rules: scalars, strings and embedded messages equal to
// their default are not written; oneof members always are; decoding skips unknown fields,
// lets the last scalar win, appends repeated elements and merges repeated embedded messages.
// Stricter than libprotobuf on purpose: a known field with the wrong wire type, a uint32 or
// enum value out of range, a string that is not UTF-8, too many repeated elements or groups
// are errors, not silently dropped data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "abi/channel_limits.h"
#include "lib/core/byte_view.h"
#include "lib/crypto/sha256.h"
#include "lib/core/error_or.h"
#include "lib/proto/utf8.h"
#include "lib/proto/wire_format.h"
#include "lib/proto/wire_reader.h"
#include "lib/proto/wire_writer.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"

namespace delos::wire {

template <typename Message>
std::size_t encoded_size(const Message& message);
template <typename Message>
std::uint8_t* encode_to(const Message& message, std::uint8_t* out);

namespace detail {

template <typename E>
constexpr std::uint64_t enum_as_varint(E value)
{
    // int32 on the wire: negative values are sign-extended to ten bytes, as libprotobuf does.
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(value)));
}

inline std::size_t length_delimited_size(std::uint32_t number, std::size_t length)
{
    return varint_size(make_tag(number, WireType::LengthDelimited)) + varint_size(length) + length;
}

// Pass one: the exact number of bytes the message encodes to.
class SizeVisitor {
public:
    std::size_t size = 0;

    void uint32(std::uint32_t number, std::uint32_t value) { uint64(number, value); }
    void uint64(std::uint32_t number, std::uint64_t value)
    {
        if (value != 0)
            size += varint_size(make_tag(number, WireType::Varint)) + varint_size(value);
    }
    void optional_uint64(std::uint32_t number, std::uint64_t value, bool present)
    {
        if (present)
            size += varint_size(make_tag(number, WireType::Varint)) + varint_size(value);
    }
    void boolean(std::uint32_t number, bool value) { uint64(number, value ? 1 : 0); }
    template <typename E>
    void enumeration(std::uint32_t number, E value) { uint64(number, enum_as_varint(value)); }
    void string(std::uint32_t number, const String& value)
    {
        if (!value.empty())
            size += length_delimited_size(number, value.size());
    }
    void bytes(std::uint32_t number, ByteView value)
    {
        if (!value.empty())
            size += length_delimited_size(number, value.size());
    }
    void digest(std::uint32_t number, const crypto::Sha256Digest&, bool present)
    {
        if (present)
            size += length_delimited_size(number, crypto::Sha256Digest::kBytes);
    }
    template <typename M>
    void message(std::uint32_t number, const M& value)
    {
        std::size_t length = encoded_size(value);
        if (length != 0)
            size += length_delimited_size(number, length);
    }
    template <typename Kind, typename M>
    void oneof(std::uint32_t number, Kind active, Kind which, const M& value)
    {
        if (active == which)
            size += length_delimited_size(number, encoded_size(value));
    }
    void repeated_string(std::uint32_t number, const Vector<String>& values, std::uint32_t)
    {
        for (const String& value : values)
            size += length_delimited_size(number, value.size());
    }
    template <typename M>
    void repeated_message(std::uint32_t number, const Vector<M>& values, std::uint32_t)
    {
        for (const M& value : values)
            size += length_delimited_size(number, encoded_size(value));
    }
};

// Pass two: writes into a buffer of exactly the size pass one computed.
class WriteVisitor {
public:
    explicit WriteVisitor(std::uint8_t* out) : writer(out) {}
    WireWriter writer;

    void uint32(std::uint32_t number, std::uint32_t value) { uint64(number, value); }
    void uint64(std::uint32_t number, std::uint64_t value)
    {
        if (value != 0)
            optional_uint64(number, value, true);
    }
    void optional_uint64(std::uint32_t number, std::uint64_t value, bool present)
    {
        if (!present)
            return;
        writer.write_tag(number, WireType::Varint);
        writer.write_varint(value);
    }
    void boolean(std::uint32_t number, bool value) { uint64(number, value ? 1 : 0); }
    template <typename E>
    void enumeration(std::uint32_t number, E value) { uint64(number, enum_as_varint(value)); }
    void string(std::uint32_t number, const String& value)
    {
        if (value.empty())
            return;
        begin_length_delimited(number, value.size());
        // Same length out as in, so the size pass stays exact; see utf8.h.
        copy_as_valid_utf8(writer.cursor(), value.data(), value.size());
        writer = WireWriter(writer.cursor() + value.size());
    }
    void bytes(std::uint32_t number, ByteView value)
    {
        if (value.empty())
            return;
        begin_length_delimited(number, value.size());
        writer.write_bytes(value);
    }
    void digest(std::uint32_t number, const crypto::Sha256Digest& value, bool present)
    {
        if (!present)
            return;
        begin_length_delimited(number, crypto::Sha256Digest::kBytes);
        writer.write_bytes(value.bytes, crypto::Sha256Digest::kBytes);
    }
    template <typename M>
    void message(std::uint32_t number, const M& value)
    {
        std::size_t length = encoded_size(value);
        if (length == 0)
            return;
        begin_length_delimited(number, length);
        writer = WireWriter(encode_to(value, writer.cursor()));
    }
    template <typename Kind, typename M>
    void oneof(std::uint32_t number, Kind active, Kind which, const M& value)
    {
        if (active != which)
            return;
        begin_length_delimited(number, encoded_size(value));
        writer = WireWriter(encode_to(value, writer.cursor()));
    }
    void repeated_string(std::uint32_t number, const Vector<String>& values, std::uint32_t)
    {
        for (const String& value : values) {
            begin_length_delimited(number, value.size());
            copy_as_valid_utf8(writer.cursor(), value.data(), value.size());
            writer = WireWriter(writer.cursor() + value.size());
        }
    }
    template <typename M>
    void repeated_message(std::uint32_t number, const Vector<M>& values, std::uint32_t)
    {
        for (const M& value : values) {
            begin_length_delimited(number, encoded_size(value));
            writer = WireWriter(encode_to(value, writer.cursor()));
        }
    }

private:
    void begin_length_delimited(std::uint32_t number, std::size_t length)
    {
        writer.write_tag(number, WireType::LengthDelimited);
        writer.write_varint(length);
    }
};

// Decodes one field (the tag just read) into whichever member the message lists under that
// number; leaves `matched` false for an unknown field so the caller skips it.
class FieldDecoder {
public:
    FieldDecoder(WireReader& reader, FieldTag tag, std::uint32_t depth) : m_reader(reader), m_tag(tag), m_depth(depth) {}

    bool matched() const { return m_matched; }
    bool failed() const { return m_failed; }
    const Error& error() const { return m_error; }

    void uint32(std::uint32_t number, std::uint32_t& value)
    {
        std::uint64_t wide;
        if (!read_varint_field(number, wide))
            return;
        if (wide > 0xffffffffu)
            return fail(Error::make(ErrorCode::Overflow, "uint32 field value exceeds 32 bits", number));
        value = static_cast<std::uint32_t>(wide);
    }
    void uint64(std::uint32_t number, std::uint64_t& value) { read_varint_field(number, value); }
    void optional_uint64(std::uint32_t number, std::uint64_t& value, bool& present)
    {
        if (read_varint_field(number, value))
            present = true;
    }
    void boolean(std::uint32_t number, bool& value)
    {
        std::uint64_t wide;
        if (read_varint_field(number, wide))
            value = wide != 0;
    }
    template <typename E>
    void enumeration(std::uint32_t number, E& value)
    {
        std::uint64_t wide;
        if (!read_varint_field(number, wide))
            return;
        auto as_signed = static_cast<std::int64_t>(wide);
        // Not <limits>: clang refuses it under -mgeneral-regs-only (long double members).
        if (as_signed < -2147483648ll || as_signed > 2147483647ll)
            return fail(Error::make(ErrorCode::Overflow, "enum value exceeds int32", number));
        // Open enums: an unknown number is kept as is, for the newer peer that sent it.
        value = static_cast<E>(static_cast<std::int32_t>(as_signed));
    }
    void string(std::uint32_t number, String& value)
    {
        ByteView payload;
        if (!read_length_delimited_field(number, payload))
            return;
        if (!is_valid_utf8(reinterpret_cast<const char*>(payload.data()), payload.size()))
            return fail(Error::make(ErrorCode::Malformed, "string field is not valid UTF-8", number));
        value = String(StringView(reinterpret_cast<const char*>(payload.data()), payload.size()));
    }
    void bytes(std::uint32_t number, ByteView& value)
    {
        // Zero-copy: the view points into the frame, which must outlive the decoded message.
        read_length_delimited_field(number, value);
    }
    void digest(std::uint32_t number, crypto::Sha256Digest& value, bool& present)
    {
        ByteView payload;
        if (!read_length_delimited_field(number, payload))
            return;
        if (payload.empty()) {  // proto3 default: no digest
            present = false;
            return;
        }
        auto parsed = crypto::Sha256Digest::from_bytes(payload);
        if (parsed.is_error())
            return fail(parsed.error());
        value = parsed.value();
        present = true;
    }
    template <typename M>
    void message(std::uint32_t number, M& value)
    {
        ByteView payload;
        if (read_length_delimited_field(number, payload))
            decode_nested(payload, value);
    }
    template <typename Kind, typename M>
    void oneof(std::uint32_t number, Kind& active, Kind which, M& value)
    {
        ByteView payload;
        if (!read_length_delimited_field(number, payload))
            return;
        if (active != which) {
            // Switching member: start from a clean one (a repeat of the same member merges).
            value = M{};
            active = which;
        }
        decode_nested(payload, value);
    }
    void repeated_string(std::uint32_t number, Vector<String>& values, std::uint32_t max_count)
    {
        if (m_matched || number != m_tag.field_number)
            return;
        if (values.size() >= max_count)
            return claim_and_fail(Error::make(ErrorCode::OutOfRange, "too many repeated elements", number));
        String value;
        string(number, value);
        if (!m_failed)
            values.append(std::move(value));
    }
    template <typename M>
    void repeated_message(std::uint32_t number, Vector<M>& values, std::uint32_t max_count)
    {
        if (m_matched || number != m_tag.field_number)
            return;
        if (values.size() >= max_count)
            return claim_and_fail(Error::make(ErrorCode::OutOfRange, "too many repeated elements", number));
        ByteView payload;
        if (!read_length_delimited_field(number, payload))
            return;
        M value{};
        decode_nested(payload, value);
        if (!m_failed)
            values.append(std::move(value));
    }

private:
    // True when this tag is the field `number` and has the wire type it should have.
    bool claim(std::uint32_t number, WireType expected)
    {
        if (m_matched || number != m_tag.field_number)
            return false;
        m_matched = true;
        if (m_tag.wire_type == WireType::StartGroup || m_tag.wire_type == WireType::EndGroup) {
            // The same answer a group gets on an unknown field (WireReader::skip_value).
            fail(Error::make(ErrorCode::Unsupported, "groups are not supported", number));
            return false;
        }
        if (m_tag.wire_type != expected) {
            fail(Error::make(ErrorCode::Malformed, "field has the wrong wire type", number));
            return false;
        }
        return true;
    }
    bool read_varint_field(std::uint32_t number, std::uint64_t& value)
    {
        if (!claim(number, WireType::Varint))
            return false;
        auto read = m_reader.read_varint();
        if (read.is_error()) {
            fail(read.error());
            return false;
        }
        value = read.value();
        return true;
    }
    bool read_length_delimited_field(std::uint32_t number, ByteView& value)
    {
        if (!claim(number, WireType::LengthDelimited))
            return false;
        m_payload_offset = m_reader.offset();
        auto read = m_reader.read_length_delimited();
        if (read.is_error()) {
            fail(read.error());
            return false;
        }
        value = read.value();
        // Where the payload starts, past its length varint, for errors inside it.
        m_payload_offset = m_reader.offset() - value.size();
        return true;
    }
    template <typename M>
    void decode_nested(ByteView payload, M& value);

    void fail(Error error)
    {
        m_failed = true;
        m_error = error;
    }
    void claim_and_fail(Error error)
    {
        m_matched = true;
        fail(error);
    }

    WireReader& m_reader;
    FieldTag m_tag;
    std::uint32_t m_depth;
    std::size_t m_payload_offset = 0;
    bool m_matched = false;
    bool m_failed = false;
    Error m_error{};
};

} // namespace detail

template <typename Message>
std::size_t encoded_size(const Message& message)
{
    detail::SizeVisitor visitor;
    Message::visit_fields(visitor, message);
    return visitor.size;
}

// Writes exactly encoded_size(message) bytes at `out`; returns the end of what it wrote.
template <typename Message>
std::uint8_t* encode_to(const Message& message, std::uint8_t* out)
{
    detail::WriteVisitor visitor(out);
    Message::visit_fields(visitor, message);
    return visitor.writer.cursor();
}

// What decoding saw besides the fields it stored.
struct DecodeNotes {
    // The highest unknown field number at the top level (0 if none): for a HostMessage, a
    // request kind this guest does not know.
    std::uint32_t highest_unknown_field = 0;
};

// Decodes (merges) the fields in `reader` into `message`. `depth` counts enclosing messages.
template <typename Message>
ErrorOr<void> decode_fields(WireReader& reader, Message& message, std::uint32_t depth, DecodeNotes* notes = nullptr)
{
    if (depth >= channel::kMaxNestingDepth)
        return Error::make(ErrorCode::Unsupported, "messages nested too deeply", depth);
    while (!reader.at_end()) {
        FieldTag tag = TRY(reader.read_tag());
        detail::FieldDecoder decoder(reader, tag, depth);
        Message::visit_fields(decoder, message);
        if (decoder.failed())
            return decoder.error();
        if (!decoder.matched()) {
            TRY(reader.skip_value(tag));
            if (notes && tag.field_number > notes->highest_unknown_field)
                notes->highest_unknown_field = tag.field_number;
        }
    }
    return {};
}

template <typename Message>
ErrorOr<Message> decode(ByteView bytes, DecodeNotes* notes = nullptr)
{
    Message message{};
    WireReader reader(bytes);
    TRY(decode_fields(reader, message, 0, notes));
    return message;
}

template <typename M>
void detail::FieldDecoder::decode_nested(ByteView payload, M& value)
{
    WireReader nested(payload, m_payload_offset);
    auto result = decode_fields(nested, value, m_depth + 1);
    if (result.is_error())
        fail(result.error());
}

} // namespace delos::wire
