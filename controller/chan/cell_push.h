// cell_push.h: pushing one cell object to a guest over an open channel: push_begin with the
// object's SHA-256, chunks with a window of them in flight, then push_commit. Shared by
// delos-chan's `push` and delos-bench-channel so both measure and do the same thing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "channel_client.h"

namespace delos::chan {

struct PushSettings {
    std::uint64_t chunk_bytes = 0;  // 0: the guest's max_chunk_bytes (capped by it anyway)
    std::uint32_t window = 8;       // chunks in flight, so the link and not the round trip sets the pace
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;  // after each acknowledged chunk
};

struct PushResult {
    std::string sha256;  // 32 raw bytes
    double seconds = 0;  // push_begin sent -> push_commit answered
    v1::PushCellCommitReply committed;
};

// Throws GuestError (after aborting the push) or ConnectionError; hello() must have been called.
PushResult push_cell(ChannelClient& client, const std::string& name, const std::string& object,
                     const PushSettings& settings);

struct PushSwapResult {
    PushResult push;
    v1::SwapCellsReply swapped;
    bool pipelined = false;  // protocol 2: everything sent before any reply was read
    double swap_seconds = 0;  // pipelined: commit reply read -> swap reply read; else the SwapCells call
};

// Pushes `object` as `name`, then swaps it in by `swap` (its pairs; after_push_ref is set
// here). With protocol 2 the begin, every chunk, the commit and the swap go out back to back,
// naming the push by the begin's request id, and the replies are read afterwards: one round
// trip instead of three or more. With protocol 1, push_cell() then a SwapCells call.
// Throws the first GuestError the guest answered (all replies are read first, so the channel
// stays in step) or ConnectionError.
PushSwapResult push_and_swap_cell(ChannelClient& client, const std::string& name, const std::string& object,
                                  const PushSettings& settings, const v1::SwapCellsRequest& swap);

} // namespace delos::chan
