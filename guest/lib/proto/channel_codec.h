// channel_codec.h: encodes and decodes channel messages and checks what the protocol requires
// of them (request ids, limits, digests); what the guest control agent and host tests call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/proto/channel_messages.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::channel {

// Decodes one request frame's payload. Besides wire-format errors it refuses: request id 0,
// no request or one this guest does not know (Unsupported, value = its field number), a push
// chunk over kMaxChunkBytes, a push begin without a 32-byte digest or over kMaxCellBytes,
// a cell name that is empty or longer than kMaxCellNameBytes, and a Hello whose version
// range is empty. Chunk data points into `payload`.
ErrorOr<HostMessage> decode_host_message(ByteView payload);

// Decodes one guest frame's payload. An event kind this side does not know decodes with
// Event::Kind::None (ignore it); a message with neither reply nor event is Malformed.
ErrorOr<GuestMessage> decode_guest_message(ByteView payload);

std::size_t encoded_size(const HostMessage&);
std::size_t encoded_size(const GuestMessage&);

// Appends one whole frame (the u32 length, then the message) to `out`. A message larger than
// kMaxFrameBytes is refused (Overflow, value = its size) and `out` is left unchanged.
ErrorOr<void> append_frame(Vector<std::uint8_t>& out, const HostMessage&);
ErrorOr<void> append_frame(Vector<std::uint8_t>& out, const GuestMessage&);

// The request id of a HostMessage payload that failed to decode, read from the fields before
// the damage (encoders write field 1 first); 0 when it cannot be found. Lets the guest send
// its error reply to the request that caused it.
std::uint64_t peek_request_id(ByteView payload);

// The protocol version a session speaks: the highest both this guest and the Hello's range
// know, or Unsupported (value = the host's highest version) when the ranges do not meet.
ErrorOr<std::uint32_t> negotiate_version(const HelloRequest&);

} // namespace delos::channel
