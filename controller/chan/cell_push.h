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

} // namespace delos::chan
