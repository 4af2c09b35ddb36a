// streaming_push.cpp: see streaming_push.h.
#include "streaming_push.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>

#include "abi/channel_limits.h"

namespace delos::controller {

StreamedPush stream_push(chan::ChannelClient& client, const std::string& name, std::uint64_t total_size,
                         const std::string& sha256, const ChunkSource& next_chunk, std::uint32_t window,
                         const v1::SwapCellsRequest* swap_after)
{
    StreamedPush result;
    result.object.reserve(total_size);
    std::uint64_t piece_limit = client.session().max_chunk_bytes();
    if (piece_limit == 0)
        piece_limit = channel::kDefaultChunkBytes;
    piece_limit = std::min<std::uint64_t>(piece_limit, channel::kMaxChunkBytes);

    auto start = std::chrono::steady_clock::now();
    v1::HostMessage begin;
    begin.mutable_push_begin()->set_name(name);
    begin.mutable_push_begin()->set_total_size(total_size);
    begin.mutable_push_begin()->set_sha256(sha256);
    std::uint64_t push_ref = client.send(begin);
    std::uint32_t push_id = client.wait_reply(push_ref).push_begin().push_id();

    struct InFlight {
        std::uint64_t request_id;
        std::uint64_t end;
    };
    std::deque<InFlight> in_flight;
    auto wait_oldest = [&] {
        v1::Reply reply = client.wait_reply(in_flight.front().request_id);
        if (reply.push_chunk().received_bytes() != in_flight.front().end)
            throw chan::ConnectionError("guest acknowledged " + std::to_string(reply.push_chunk().received_bytes())
                                        + " bytes where " + std::to_string(in_flight.front().end) + " were sent");
        in_flight.pop_front();
    };
    auto abort_push = [&] {
        try {  // best effort: the reason the push stopped is what the caller reports
            while (!in_flight.empty())
                wait_oldest();
            v1::HostMessage abort;
            abort.mutable_push_abort()->set_push_id(push_id);
            client.call(std::move(abort));
        } catch (const chan::GuestError&) {
        }
    };

    SHA256_CTX hash;
    SHA256_Init(&hash);
    std::uint64_t sent = 0;
    std::string chunk;
    try {
        for (bool more = true; more;) {
            more = next_chunk(chunk);
            if (more) {
                if (result.object.size() + chunk.size() > total_size)
                    throw PushMismatch("the push sent more bytes than the " + std::to_string(total_size) + " it announced");
                result.object += chunk;
                SHA256_Update(&hash, chunk.data(), chunk.size());
            }
            v1::HostMessage piece;
            while (sent < result.object.size()) {
                if (in_flight.size() >= window)
                    wait_oldest();
                std::uint64_t size = std::min<std::uint64_t>(piece_limit, result.object.size() - sent);
                auto* body = piece.mutable_push_chunk();
                body->set_push_id(push_id);
                body->set_offset(sent);
                body->mutable_data()->assign(result.object.data() + sent, size);
                in_flight.push_back({client.send(piece), sent + size});
                sent += size;
            }
        }
        while (!in_flight.empty())
            wait_oldest();
        if (result.object.size() != total_size)
            throw PushMismatch("the push ended after " + std::to_string(result.object.size()) + " of the "
                               + std::to_string(total_size) + " bytes it announced; the guest's copy was discarded");
        unsigned char digest[SHA256_DIGEST_LENGTH];
        SHA256_Final(digest, &hash);
        if (std::string(reinterpret_cast<char*>(digest), sizeof digest) != sha256)
            throw PushMismatch("the SHA-256 of the bytes received does not match the push header: the object was "
                               "damaged or changed; the guest's copy was discarded");
    } catch (const chan::ConnectionError&) {
        throw;  // the session is gone, and the guest forgets uncommitted pushes with it
    } catch (...) {
        abort_push();
        throw;
    }
    v1::HostMessage commit;
    commit.mutable_push_commit()->set_push_id(push_id);
    std::uint64_t commit_id = client.send(commit);
    std::optional<std::uint64_t> swap_id;
    if (swap_after && client.session().version() >= 2) {
        v1::HostMessage swap;
        *swap.mutable_swap_cells() = *swap_after;
        swap.mutable_swap_cells()->set_after_push_ref(push_ref);  // refused unless this push commits
        swap_id = client.send(swap);
        result.swap_sent = true;
    }
    try {
        result.committed = client.wait_reply(commit_id).push_commit();
    } catch (const chan::GuestError&) {
        if (swap_id) {
            try {  // its refusal only repeats the commit's; read so the channel stays in step
                client.wait_reply(*swap_id);
            } catch (const chan::GuestError&) {
            }
        }
        throw;
    }
    if (swap_id) {
        try {
            result.swapped = client.wait_reply(*swap_id).swap_cells();
        } catch (const chan::GuestError& error) {
            result.swap_error = error;
        }
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace delos::controller
