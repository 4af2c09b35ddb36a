// streaming_push.h: a push into a guest fed chunk by chunk while the client is still sending
// (delosd relays a gRPC PushCell stream): each piece goes to the guest as soon as it arrives,
// with a window of chunks in flight, so receiving from the client and transferring to the
// guest overlap. Size and SHA-256 are checked before the commit; a push that does not match
// is aborted, so the guest never stages it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "channel_client.h"

namespace delos::controller {

// The bytes did not match the header (size or digest); the guest's push was aborted.
class PushMismatch : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct StreamedPush {
    std::string object;               // every byte received
    v1::PushCellCommitReply committed;
    double seconds = 0;               // push_begin sent -> commit answered
    // With `swap_after` and a protocol-2 session: the swap sent right behind the commit (it
    // names the push by its begin's request id) and its outcome, reply or refusal.
    bool swap_sent = false;
    v1::SwapCellsReply swapped;
    std::optional<chan::GuestError> swap_error;
};

// Next piece from the client; false at the end of the stream. May throw (the push is aborted).
using ChunkSource = std::function<bool(std::string& chunk)>;

StreamedPush stream_push(chan::ChannelClient& client, const std::string& name, std::uint64_t total_size,
                         const std::string& sha256, const ChunkSource& next_chunk, std::uint32_t window = 8,
                         const v1::SwapCellsRequest* swap_after = nullptr);

} // namespace delos::controller
