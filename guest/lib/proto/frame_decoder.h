// frame_decoder.h: turns a byte stream that arrives in arbitrary pieces (virtio buffers, socket
// reads) into whole channel frames: a little-endian u32 payload length, then the payload.
//
// Oversized frames: a length above the limit is reported once (FrameEvent::Oversized, with
// the length and the payload's first bytes so the caller can find the request id), then that
// many bytes are discarded and decoding resumes at the next frame. A sender that merely
// exceeded the limit thus stays in sync; a stream whose length field is garbage stays
// desynchronised until the connection is reset (reset() on port close / reconnect).
#pragma once

#include <cstddef>
#include <cstdint>

#include "abi/channel_limits.h"
#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/vector.h"

namespace delos::channel {

struct FrameEvent {
    enum class Kind : std::uint8_t {
        NeedMoreBytes,  // input used up; feed more
        Frame,          // `payload` is one whole frame's payload
        Oversized,      // a frame over the limit: `error` says by how much; it is being skipped
    };
    Kind kind = Kind::NeedMoreBytes;
    // Frame: the payload. Oversized: up to kOversizedPrefixBytes of its start.
    // Valid until the next call to next() or reset(), and while the fed input lives.
    ByteView payload;
    std::uint32_t declared_length = 0;  // Oversized: the length the header claimed
    Error error{};                      // Oversized: OutOfRange, value = declared length
};

class FrameDecoder {
public:
    // Enough of an oversized payload to hold its request id (a tag and a ten-byte varint).
    static constexpr std::size_t kOversizedPrefixBytes = 16;

    explicit FrameDecoder(std::uint32_t max_frame_bytes = kMaxFrameBytes) : m_max_frame_bytes(max_frame_bytes) {}

    // Consumes bytes from the front of `input` until one event is ready; call again with the
    // rest (`input` is advanced) until NeedMoreBytes. A frame lying whole inside `input` is
    // returned as a view into it without copying; a frame split across inputs is assembled
    // in the decoder's own buffer.
    FrameEvent next(ByteView& input);

    // Forgets any partial frame (the peer disconnected) and gives its buffer back.
    void reset();

    // True between frames: no partial header, payload or discard pending.
    bool idle() const { return m_state == State::Header && m_header_size == 0; }
    std::uint64_t frames_decoded() const { return m_frames_decoded; }
    // Heap bytes held for assembling split frames.
    std::size_t bytes_held() const { return m_payload.capacity(); }

    // The assembly buffer kept between frames: one push chunk and its envelope. A larger frame's
    // buffer is given back once the next call begins, so one big frame does not pin its size.
    static constexpr std::size_t kRetainedBufferBytes = kMaxChunkBytes + 4096;

private:
    enum class State : std::uint8_t { Header, Payload, OversizedPrefix, Discard };

    FrameEvent finish_oversized();

    std::uint32_t m_max_frame_bytes;
    State m_state = State::Header;
    std::uint8_t m_header[kFrameHeaderBytes] = {};
    std::size_t m_header_size = 0;
    std::uint32_t m_length = 0;       // payload length of the current frame
    std::uint64_t m_discard_left = 0; // Discard: bytes of the oversized frame still to drop
    Vector<std::uint8_t> m_payload;   // a frame being assembled across inputs
    std::uint64_t m_frames_decoded = 0;
};

} // namespace delos::channel
