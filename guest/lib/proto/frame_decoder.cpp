// frame_decoder.cpp: the frame decoder's state machine (header, payload, oversized prefix, discard).
#include "lib/proto/frame_decoder.h"

namespace delos::channel {

namespace {

std::size_t min_size(std::uint64_t a, std::size_t b) { return a < b ? static_cast<std::size_t>(a) : b; }

ByteView advance(ByteView& input, std::size_t count)
{
    ByteView taken(input.data(), count);
    input = ByteView(input.data() + count, input.size() - count);
    return taken;
}

} // namespace

void FrameDecoder::reset()
{
    m_state = State::Header;
    m_header_size = 0;
    m_length = 0;
    m_discard_left = 0;
    m_payload = Vector<std::uint8_t>();
}

namespace {
// An oversized frame is refused as soon as what arrived of it names the request (field 1, a
// varint, which our encoders put first) or shows that it does not start with it: a peer that
// sent a short oversized frame and waits for the refusal gets it without sending more.
bool settles_request_id(ByteView prefix)
{
    if (prefix.size() == 0)
        return false;
    if (prefix.data()[0] != 0x08)
        return true;
    for (std::size_t i = 1; i < prefix.size(); ++i) {
        if (!(prefix.data()[i] & 0x80))
            return true;
    }
    return false;
}
} // namespace

FrameEvent FrameDecoder::finish_oversized()
{
    FrameEvent event;
    event.kind = FrameEvent::Kind::Oversized;
    event.payload = ByteView(m_payload.data(), m_payload.size());
    event.declared_length = m_length;
    event.error = Error::make(ErrorCode::OutOfRange, "frame length exceeds the limit", m_length);
    m_discard_left = m_length - m_payload.size();
    m_state = State::Discard;
    return event;
}

FrameEvent FrameDecoder::next(ByteView& input)
{
    // The last frame handed out is no longer in use; do not keep a big frame's buffer.
    if (m_state == State::Header && m_payload.capacity() > kRetainedBufferBytes)
        m_payload = Vector<std::uint8_t>();
    for (;;) {
        switch (m_state) {
        case State::Header: {
            if (m_header_size == 0 && input.size() >= kFrameHeaderBytes) {
                __builtin_memcpy(m_header, input.data(), kFrameHeaderBytes);
                advance(input, kFrameHeaderBytes);
                m_header_size = kFrameHeaderBytes;
            } else {
                std::size_t take = min_size(kFrameHeaderBytes - m_header_size, input.size());
                if (take == 0)
                    return {};
                __builtin_memcpy(m_header + m_header_size, advance(input, take).data(), take);
                m_header_size += take;
                if (m_header_size < kFrameHeaderBytes)
                    return {};
            }
            m_header_size = 0;
            __builtin_memcpy(&m_length, m_header, kFrameHeaderBytes);  // little-endian
            m_payload.clear();
            if (m_length > m_max_frame_bytes) {
                m_state = State::OversizedPrefix;
                continue;
            }
            // Zero-copy: the whole payload is already in this input.
            if (input.size() >= m_length) {
                FrameEvent event;
                event.kind = FrameEvent::Kind::Frame;
                event.payload = advance(input, m_length);
                ++m_frames_decoded;
                return event;
            }
            m_state = State::Payload;
            m_payload.reserve(m_length);
            continue;
        }
        case State::Payload: {
            std::size_t take = min_size(m_length - m_payload.size(), input.size());
            if (take > 0)
                m_payload.extend(advance(input, take).data(), take);
            if (m_payload.size() < m_length)
                return {};
            m_state = State::Header;
            FrameEvent event;
            event.kind = FrameEvent::Kind::Frame;
            event.payload = ByteView(m_payload.data(), m_payload.size());
            ++m_frames_decoded;
            return event;
        }
        case State::OversizedPrefix: {
            // m_length > limit >= 0, and the prefix is far below any sane limit.
            std::size_t wanted = min_size(m_length, kOversizedPrefixBytes);
            // A byte at a time (at most kOversizedPrefixBytes), so the prefix ends where the
            // request id is settled whatever the pieces the bytes arrive in.
            auto settled = [&] { return settles_request_id(ByteView(m_payload.data(), m_payload.size())); };
            while (m_payload.size() < wanted && !settled() && !input.empty())
                m_payload.extend(advance(input, 1).data(), 1);
            if (m_payload.size() < wanted && !settled())
                return {};
            return finish_oversized();
        }
        case State::Discard: {
            std::size_t take = min_size(m_discard_left, input.size());
            advance(input, take);
            m_discard_left -= take;
            if (m_discard_left > 0)
                return {};
            m_payload.clear();
            m_state = State::Header;
            continue;
        }
        }
    }
}

} // namespace delos::channel
