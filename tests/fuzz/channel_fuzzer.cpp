// channel_fuzzer.cpp: the channel codec and frame decoder over arbitrary bytes. Whatever
// decodes must re-encode to bytes that decode to the same message (a fixed point, no larger
// than the input); the streaming frame decoder, fed the input in pseudo-random pieces, must
// produce exactly the frames a one-shot reference parser finds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lib/proto/channel_codec.h"
#include "lib/proto/frame_decoder.h"
#include "lib/proto/message_codec.h"

using namespace delos;
using namespace delos::channel;

namespace {

[[noreturn]] void fail(const char* what)
{
    __builtin_fprintf(stderr, "fuzz-channel: %s\n", what);
    std::abort();
}

template <typename Message>
std::vector<std::uint8_t> encode(const Message& message)
{
    std::vector<std::uint8_t> out(wire::encoded_size(message));
    std::uint8_t* end = wire::encode_to(message, out.data());
    if (end != out.data() + out.size())
        fail("size pass and write pass disagree");
    return out;
}

template <typename Message>
void round_trip(ByteView input)
{
    auto first = wire::decode<Message>(input);
    if (first.is_error())
        return;
    std::vector<std::uint8_t> encoded = encode(first.value());
    if (encoded.size() > input.size())
        fail("re-encoding is larger than the input it came from");
    auto second = wire::decode<Message>(ByteView(encoded.data(), encoded.size()));
    if (second.is_error())
        fail("our own encoding does not decode");
    if (encode(second.value()) != encoded)
        fail("decode(encode(m)) differs from m");
}

void check_entry_points(ByteView payload)
{
    auto host = decode_host_message(payload);
    if (!host.is_error()) {
        Vector<std::uint8_t> frame;
        if (append_frame(frame, host.value()).is_error())
            fail("a decoded request does not fit a frame");
        if (peek_request_id(payload) != host.value().request_id)
            fail("peek_request_id disagrees with the decoder");
    }
    auto guest = decode_guest_message(payload);
    if (!guest.is_error()) {
        Vector<std::uint8_t> frame;
        if (append_frame(frame, guest.value()).is_error())
            fail("a decoded guest message does not fit a frame");
    }
}

struct Expected {
    bool oversized;
    std::string bytes;  // frame payload, or the oversized prefix
    std::uint32_t length;
};

// The one-shot model of the frame format the streaming decoder must agree with.
std::vector<Expected> reference_frames(ByteView stream, std::uint32_t limit)
{
    std::vector<Expected> out;
    std::size_t at = 0;
    while (stream.size() - at >= 4) {
        std::uint32_t length;
        std::memcpy(&length, stream.data() + at, 4);
        at += 4;
        std::size_t left = stream.size() - at;
        const char* start = reinterpret_cast<const char*>(stream.data() + at);
        if (length > limit) {
            // The prefix ends where the request id (tag 0x08, then a varint) is whole, or at its
            // first byte if that is not the id's tag; never beyond kOversizedPrefixBytes.
            std::size_t cap = length < FrameDecoder::kOversizedPrefixBytes ? length : FrameDecoder::kOversizedPrefixBytes;
            std::size_t prefix = 1;
            if (left > 0 && start[0] == 0x08) {
                while (prefix < left && (static_cast<unsigned char>(start[prefix]) & 0x80))
                    ++prefix;
                ++prefix;  // the varint's last byte
            }
            if (prefix > cap)
                prefix = cap;
            if (left < prefix)
                break;
            out.push_back({true, std::string(start, prefix), length});
            at += length < left ? length : left;
            continue;
        }
        if (left < length)
            break;
        out.push_back({false, std::string(start, length), length});
        at += length;
    }
    return out;
}

void check_frame_decoder(ByteView stream)
{
    // Small limit, so oversized frames are common; piece sizes from a cheap PRNG seeded by the input.
    const std::uint32_t limit = 256;
    std::uint64_t seed = 0x9e3779b97f4a7c15ull ^ stream.size();
    for (std::size_t i = 0; i < stream.size() && i < 16; ++i)
        seed = seed * 31 + stream.data()[i];

    std::vector<Expected> expected = reference_frames(stream, limit);
    std::vector<Expected> got;
    FrameDecoder decoder(limit);
    std::size_t at = 0;
    while (at < stream.size()) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        std::size_t piece = (seed >> 33) % 300;
        if (piece > stream.size() - at)
            piece = stream.size() - at;
        ByteView input(stream.data() + at, piece);
        at += piece;
        for (;;) {
            FrameEvent event = decoder.next(input);
            if (event.kind == FrameEvent::Kind::NeedMoreBytes)
                break;
            std::string bytes(reinterpret_cast<const char*>(event.payload.data()), event.payload.size());
            bool oversized = event.kind == FrameEvent::Kind::Oversized;
            got.push_back({oversized, bytes, oversized ? event.declared_length : static_cast<std::uint32_t>(bytes.size())});
            if (!oversized)
                check_entry_points(event.payload);
        }
        if (!input.empty())
            fail("the decoder left input unconsumed");
    }
    if (got.size() != expected.size())
        fail("streaming and one-shot framing found a different number of frames");
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (got[i].oversized != expected[i].oversized || got[i].bytes != expected[i].bytes
            || got[i].length != expected[i].length)
            fail("streaming and one-shot framing disagree on a frame");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    ByteView input(data, size);
    round_trip<HostMessage>(input);
    round_trip<GuestMessage>(input);
    check_entry_points(input);
    check_frame_decoder(input);
    return 0;
}
