// framing_test.cpp: the streaming frame decoder reassembles frames from any split of the
// stream, hands out whole frames without copying, skips oversized ones and stays in sync.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "lib/proto/channel_codec.h"
#include "lib/proto/frame_decoder.h"
#include "lib/proto/message_codec.h"

using namespace delos;
using namespace delos::channel;

namespace {

std::vector<std::uint8_t> frame(const std::string& payload)
{
    std::vector<std::uint8_t> out(4 + payload.size());
    auto length = static_cast<std::uint32_t>(payload.size());
    __builtin_memcpy(out.data(), &length, 4);
    __builtin_memcpy(out.data() + 4, payload.data(), payload.size());
    return out;
}

std::vector<std::uint8_t> header_only(std::uint32_t length)
{
    std::vector<std::uint8_t> out(4);
    __builtin_memcpy(out.data(), &length, 4);
    return out;
}

struct Collected {
    std::vector<std::string> frames;
    std::vector<FrameEvent> oversized;
    std::vector<std::string> oversized_prefixes;
};

// Feeds `pieces` one after another, collecting every event.
void feed(FrameDecoder& decoder, ByteView piece, Collected& collected)
{
    for (;;) {
        FrameEvent event = decoder.next(piece);
        if (event.kind == FrameEvent::Kind::NeedMoreBytes) {
            EXPECT_TRUE(piece.empty());
            return;
        }
        if (event.kind == FrameEvent::Kind::Frame) {
            collected.frames.emplace_back(reinterpret_cast<const char*>(event.payload.data()), event.payload.size());
        } else {
            collected.oversized.push_back(event);
            collected.oversized_prefixes.emplace_back(reinterpret_cast<const char*>(event.payload.data()),
                                                      event.payload.size());
        }
    }
}

std::vector<std::uint8_t> concat(const std::vector<std::vector<std::uint8_t>>& parts)
{
    std::vector<std::uint8_t> out;
    for (const auto& part : parts)
        out.insert(out.end(), part.begin(), part.end());
    return out;
}

} // namespace

TEST(Framing, EverySplitOfTheStreamYieldsTheSameFrames)
{
    std::vector<std::string> payloads = {"first", "", std::string(300, 'x'), "last frame"};
    std::vector<std::vector<std::uint8_t>> frames;
    for (const auto& payload : payloads)
        frames.push_back(frame(payload));
    std::vector<std::uint8_t> stream = concat(frames);

    // Two pieces, split at every position.
    for (std::size_t split = 0; split <= stream.size(); ++split) {
        FrameDecoder decoder;
        Collected collected;
        feed(decoder, ByteView(stream.data(), split), collected);
        feed(decoder, ByteView(stream.data() + split, stream.size() - split), collected);
        ASSERT_EQ(collected.frames, payloads) << "split at " << split;
        EXPECT_TRUE(decoder.idle());
        EXPECT_EQ(decoder.frames_decoded(), payloads.size());
    }
    // Byte by byte.
    FrameDecoder decoder;
    Collected collected;
    for (std::uint8_t byte : stream)
        feed(decoder, ByteView(&byte, 1), collected);
    EXPECT_EQ(collected.frames, payloads);
}

TEST(Framing, RandomPiecesOfManyFrames)
{
    std::mt19937_64 rng(11);
    for (int round = 0; round < 50; ++round) {
        std::vector<std::string> payloads;
        std::vector<std::vector<std::uint8_t>> frames;
        for (int i = 0; i < 20; ++i) {
            std::string payload(rng() % 3 == 0 ? rng() % 5000 : rng() % 20, '\0');
            for (char& c : payload)
                c = static_cast<char>(rng());
            payloads.push_back(payload);
            frames.push_back(frame(payload));
        }
        std::vector<std::uint8_t> stream = concat(frames);
        FrameDecoder decoder;
        Collected collected;
        for (std::size_t offset = 0; offset < stream.size();) {
            std::size_t piece = std::min<std::size_t>(stream.size() - offset, rng() % 700);
            feed(decoder, ByteView(stream.data() + offset, piece), collected);
            offset += piece;
        }
        ASSERT_EQ(collected.frames, payloads) << "round " << round;
    }
}

TEST(Framing, WholeFramesInOneInputAreNotCopied)
{
    std::vector<std::uint8_t> stream = concat({frame("abc"), frame("defg")});
    FrameDecoder decoder;
    ByteView input(stream.data(), stream.size());
    FrameEvent first = decoder.next(input);
    ASSERT_EQ(first.kind, FrameEvent::Kind::Frame);
    EXPECT_EQ(first.payload.data(), stream.data() + 4);
    FrameEvent second = decoder.next(input);
    ASSERT_EQ(second.kind, FrameEvent::Kind::Frame);
    EXPECT_EQ(second.payload.data(), stream.data() + 11);
    EXPECT_EQ(decoder.next(input).kind, FrameEvent::Kind::NeedMoreBytes);
}

TEST(Framing, OversizedFrameIsReportedSkippedAndTheStreamStaysInSync)
{
    const std::uint32_t limit = 64;
    std::string big(100, 'B');
    big[0] = 'P';  // prefix starts here
    std::vector<std::uint8_t> stream = concat({frame("before"), frame(big), frame("after")});

    for (std::size_t split = 0; split <= stream.size(); ++split) {
        FrameDecoder decoder(limit);
        Collected collected;
        feed(decoder, ByteView(stream.data(), split), collected);
        feed(decoder, ByteView(stream.data() + split, stream.size() - split), collected);
        ASSERT_EQ(collected.frames, (std::vector<std::string>{"before", "after"})) << "split at " << split;
        ASSERT_EQ(collected.oversized.size(), 1u);
        const FrameEvent& event = collected.oversized[0];
        EXPECT_EQ(event.declared_length, 100u);
        EXPECT_EQ(event.error.code, ErrorCode::OutOfRange);
        EXPECT_STREQ(event.error.message, "frame length exceeds the limit");
        EXPECT_EQ(event.error.value, 100u);
        // Up to kOversizedPrefixBytes of what had arrived when it was refused ('P' is not the
        // request-id tag, so the first byte already settles it).
        const std::string& prefix = collected.oversized_prefixes[0];
        EXPECT_FALSE(prefix.empty());
        EXPECT_EQ(prefix, big.substr(0, prefix.size()));
        EXPECT_LE(prefix.size(), FrameDecoder::kOversizedPrefixBytes);
    }
}

TEST(Framing, ShortOversizedFrameIsRefusedOnceItsRequestIdIsWhole)
{
    // Header claims ~2 GiB; only the request id (field 1 = 1) follows, then the peer waits.
    std::uint8_t bytes[] = {0xff, 0xff, 0xff, 0x7f, 0x08, 0x81, 0x01};
    FrameDecoder decoder(64);
    ByteView input(bytes, 6);  // the varint is not whole yet
    EXPECT_EQ(decoder.next(input).kind, FrameEvent::Kind::NeedMoreBytes);
    ByteView rest(bytes + 6, 1);
    FrameEvent event = decoder.next(rest);
    ASSERT_EQ(event.kind, FrameEvent::Kind::Oversized);
    EXPECT_EQ(event.payload.size(), 3u);
}

TEST(Framing, OversizedPrefixNamesTheRequestSoTheErrorReachesIt)
{
    // A push chunk bigger than the frame limit: the guest cannot decode it, but it can still
    // reply to its request id.
    std::string data(kMaxFrameBytes + 1, 'x');
    HostMessage message;
    message.request_id = 123456789;
    message.request = HostMessage::Request::PushChunk;
    message.push_chunk.push_id = 3;
    message.push_chunk.data = ByteView(data.data(), data.size());
    Vector<std::uint8_t> refused;
    auto result = append_frame(refused, message);
    ASSERT_TRUE(result.is_error()) << "the encoder refuses it too";
    EXPECT_EQ(result.error().code, ErrorCode::Overflow);
    EXPECT_EQ(result.error().value, encoded_size(message));
    EXPECT_TRUE(refused.empty());

    // Written anyway (a buggy or hostile host), then decoded.
    std::string payload(encoded_size(message), '\0');
    wire::encode_to(message, reinterpret_cast<std::uint8_t*>(payload.data()));
    std::vector<std::uint8_t> stream = frame(payload);
    FrameDecoder decoder;
    Collected collected;
    feed(decoder, ByteView(stream.data(), stream.size()), collected);
    ASSERT_EQ(collected.oversized.size(), 1u);
    const std::string& prefix = collected.oversized_prefixes[0];
    EXPECT_EQ(peek_request_id(ByteView(prefix.data(), prefix.size())), 123456789u);
    EXPECT_TRUE(decoder.idle());
}

TEST(Framing, HugeDeclaredLengthIsDiscardedWithoutBuffering)
{
    FrameDecoder decoder;
    Collected collected;
    std::vector<std::uint8_t> header = header_only(0xffffffff);
    feed(decoder, ByteView(header.data(), header.size()), collected);
    EXPECT_TRUE(collected.oversized.empty()) << "waits for the prefix";
    std::vector<std::uint8_t> junk(1 << 20, 0xaa);
    feed(decoder, ByteView(junk.data(), junk.size()), collected);
    ASSERT_EQ(collected.oversized.size(), 1u);
    EXPECT_EQ(collected.oversized[0].declared_length, 0xffffffffu);
    EXPECT_FALSE(decoder.idle()) << "still discarding the rest of the declared length";

    // The connection is reset: the decoder starts clean.
    decoder.reset();
    EXPECT_TRUE(decoder.idle());
    std::vector<std::uint8_t> good = frame("fresh");
    feed(decoder, ByteView(good.data(), good.size()), collected);
    EXPECT_EQ(collected.frames, std::vector<std::string>{"fresh"});
}

TEST(Framing, ResetDropsAPartialFrame)
{
    std::vector<std::uint8_t> first = frame("never finished");
    FrameDecoder decoder;
    Collected collected;
    feed(decoder, ByteView(first.data(), 7), collected);
    EXPECT_FALSE(decoder.idle());
    decoder.reset();
    std::vector<std::uint8_t> second = frame("whole");
    feed(decoder, ByteView(second.data(), second.size()), collected);
    EXPECT_EQ(collected.frames, std::vector<std::string>{"whole"});
}

TEST(Framing, AppendFrameWritesLittleEndianLengthThenTheMessage)
{
    GuestMessage message = GuestMessage::make_error_reply(77, Error::make(ErrorCode::NotFound, "no such cell", 5));
    Vector<std::uint8_t> out;
    out.append(0xee);  // appends after what is there
    ASSERT_FALSE(append_frame(out, message).is_error());
    std::size_t size = encoded_size(message);
    ASSERT_EQ(out.size(), 1 + 4 + size);
    std::uint32_t length;
    __builtin_memcpy(&length, out.data() + 1, 4);
    EXPECT_EQ(length, size);

    FrameDecoder decoder;
    ByteView input(out.data() + 1, out.size() - 1);
    FrameEvent event = decoder.next(input);
    ASSERT_EQ(event.kind, FrameEvent::Kind::Frame);
    auto decoded = decode_guest_message(event.payload);
    ASSERT_FALSE(decoded.is_error());
    EXPECT_EQ(decoded.value().reply.request_id, 77u);
    EXPECT_EQ(decoded.value().reply.status.code, StatusCode::NotFound);
    EXPECT_EQ(decoded.value().reply.status.reason, StringView("no such cell"));
    EXPECT_TRUE(decoded.value().reply.status.has_value);
    EXPECT_EQ(decoded.value().reply.status.value, 5u);
}
