// cell_push.cpp: see cell_push.h.
#include "cell_push.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <deque>

#include "abi/channel_limits.h"

namespace delos::chan {

namespace {

void abort_push(ChannelClient& client, std::uint32_t push_id)
{
    // Best effort: the error that stopped the push is what the caller needs to see.
    try {
        v1::HostMessage abort;
        abort.mutable_push_abort()->set_push_id(push_id);
        client.call(std::move(abort));
    } catch (const std::exception&) {
    }
}

std::string sha256_of(const std::string& object)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(object.data()), object.size(), digest);
    return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

// The chunk size: the settings' choice, within what the guest said it takes.
std::uint64_t chunk_bytes_for(ChannelClient& client, const PushSettings& settings)
{
    std::uint64_t limit = client.session().max_chunk_bytes();
    if (limit == 0)
        limit = channel::kDefaultChunkBytes;
    return settings.chunk_bytes ? std::min<std::uint64_t>(settings.chunk_bytes, limit) : limit;
}

v1::HostMessage begin_message(const std::string& name, const std::string& object, const std::string& sha256)
{
    v1::HostMessage begin;
    begin.mutable_push_begin()->set_name(name);
    begin.mutable_push_begin()->set_total_size(object.size());
    begin.mutable_push_begin()->set_sha256(sha256);
    return begin;
}

} // namespace

PushResult push_cell(ChannelClient& client, const std::string& name, const std::string& object,
                     const PushSettings& settings)
{
    PushResult result;
    result.sha256 = sha256_of(object);
    std::uint64_t chunk_bytes = chunk_bytes_for(client, settings);
    std::uint32_t window = std::max<std::uint32_t>(settings.window, 1);

    auto start = std::chrono::steady_clock::now();
    std::uint32_t push_id = client.call(begin_message(name, object, result.sha256)).push_begin().push_id();

    try {
        struct InFlight {
            std::uint64_t request_id;
            std::uint64_t end;
        };
        std::deque<InFlight> in_flight;
        std::uint64_t sent = 0;
        std::uint64_t acknowledged = 0;
        v1::HostMessage chunk;
        while (acknowledged < object.size()) {
            while (in_flight.size() < window && sent < object.size()) {
                std::uint64_t size = std::min<std::uint64_t>(chunk_bytes, object.size() - sent);
                auto* body = chunk.mutable_push_chunk();
                body->set_push_id(push_id);
                body->set_offset(sent);
                body->mutable_data()->assign(object.data() + sent, size);
                in_flight.push_back({client.send(chunk), sent + size});
                sent += size;
            }
            v1::Reply reply = client.wait_reply(in_flight.front().request_id);
            if (reply.push_chunk().received_bytes() != in_flight.front().end)
                throw ConnectionError("guest acknowledged " + std::to_string(reply.push_chunk().received_bytes())
                                      + " bytes where " + std::to_string(in_flight.front().end) + " were sent");
            acknowledged = in_flight.front().end;
            in_flight.pop_front();
            if (settings.progress)
                settings.progress(acknowledged, object.size());
        }
    } catch (const GuestError&) {
        abort_push(client, push_id);
        throw;
    }

    v1::HostMessage commit;
    commit.mutable_push_commit()->set_push_id(push_id);
    result.committed = client.call(std::move(commit)).push_commit();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

PushSwapResult push_and_swap_cell(ChannelClient& client, const std::string& name, const std::string& object,
                                  const PushSettings& settings, const v1::SwapCellsRequest& swap)
{
    PushSwapResult result;
    if (client.session().version() < 2) {
        result.push = push_cell(client, name, object, settings);
        auto start = std::chrono::steady_clock::now();
        v1::HostMessage message;
        *message.mutable_swap_cells() = swap;
        result.swapped = client.call(std::move(message)).swap_cells();
        result.swap_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return result;
    }
    result.pipelined = true;
    result.push.sha256 = sha256_of(object);
    std::uint64_t chunk_bytes = chunk_bytes_for(client, settings);

    auto start = std::chrono::steady_clock::now();
    v1::HostMessage begin = begin_message(name, object, result.push.sha256);
    std::uint64_t ref = client.send(begin);
    struct Sent {
        std::uint64_t request_id;
        std::uint64_t end;  // chunks: the bytes acknowledged once it is taken
    };
    std::vector<Sent> chunks;
    v1::HostMessage chunk;
    for (std::uint64_t sent = 0; sent < object.size();) {
        std::uint64_t size = std::min<std::uint64_t>(chunk_bytes, object.size() - sent);
        auto* body = chunk.mutable_push_chunk();
        body->set_push_ref(ref);
        body->set_offset(sent);
        body->mutable_data()->assign(object.data() + sent, size);
        chunks.push_back({client.send(chunk), sent + size});
        sent += size;
    }
    v1::HostMessage commit;
    commit.mutable_push_commit()->set_push_ref(ref);
    std::uint64_t commit_id = client.send(commit);
    v1::HostMessage swap_message;
    *swap_message.mutable_swap_cells() = swap;
    swap_message.mutable_swap_cells()->set_after_push_ref(ref);
    std::uint64_t swap_id = client.send(swap_message);

    // Every reply is read, in order, before anything is thrown, so none is left behind; the
    // first refusal is the one that explains the rest (a refused begin refuses all after it).
    std::optional<GuestError> first_error;
    auto take = [&](std::uint64_t id) -> std::optional<v1::Reply> {
        try {
            return client.wait_reply(id);
        } catch (const GuestError& error) {
            if (!first_error)
                first_error = error;
            return std::nullopt;
        }
    };
    take(ref);
    for (const Sent& sent : chunks) {
        auto reply = take(sent.request_id);
        if (reply && reply->push_chunk().received_bytes() != sent.end && !first_error)
            throw ConnectionError("guest acknowledged " + std::to_string(reply->push_chunk().received_bytes())
                                  + " bytes where " + std::to_string(sent.end) + " were sent");
        if (reply && settings.progress)
            settings.progress(sent.end, object.size());
    }
    if (auto reply = take(commit_id))
        result.push.committed = reply->push_commit();
    auto committed_at = std::chrono::steady_clock::now();
    result.push.seconds = std::chrono::duration<double>(committed_at - start).count();
    auto swapped = take(swap_id);
    result.swap_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - committed_at).count();
    if (first_error)
        throw *first_error;
    result.swapped = swapped->swap_cells();
    return result;
}

} // namespace delos::chan
