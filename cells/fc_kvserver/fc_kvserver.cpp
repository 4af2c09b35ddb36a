// fc_kvserver.cpp: the fault campaign's kv-backed request server (a target cell: faults are
// injected into it). It keeps no state between requests: each request names the client, key and
// value version, and the data lives in the kv cell, so a restarted or reloaded server loses
// nothing and a retried request (Put of the same version, Get, Erase) is idempotent.
#include "fault_workloads/workload_protocol.h"
#include "kv/kv.h"
#include "lib/core/format.h"
#include "lib/core/string.h"
#include "linker/cell_info.h"

namespace {

using namespace delos;
using namespace delos::fault_workload;

std::uint64_t digest_payload(const std::uint64_t* words, std::size_t count)
{
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < count; ++i) {
        hash = (hash ^ words[i]) * 0x100000001b3ull;
        hash ^= hash >> 29;
    }
    return hash;
}

String key_of(const KvRequest& request) { return format("fc/{}/{}", request.client, request.key); }

// "<seq>:<digest>", both decimal; false if the stored text is not of that shape.
bool parse_value(StringView text, std::uint64_t& seq, std::uint64_t& digest)
{
    std::uint64_t* target = &seq;
    std::size_t digits = 0;
    seq = digest = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == ':' && target == &seq && digits > 0) {
            target = &digest;
            digits = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return false;
        *target = *target * 10 + static_cast<std::uint64_t>(c - '0');
        ++digits;
    }
    return target == &digest && digits > 0;
}

} // namespace

// Every write goes through the client's `grant` (the one key this request may write): a put or
// erase under a key the server got wrong is refused by kv and answered as a failure.
extern "C" [[gnu::visibility("default")]] void fc_kvserver_serve(const KvRequest& request, const kv::WriteGrant& grant, KvReply& reply)
{
    reply = KvReply{KvStatus::Failed, 0, 0};
    String key = key_of(request);
    switch (request.op) {
    case KvOp::Put: {
        std::uint64_t digest = digest_payload(request.payload, kPayloadWords);
        String value = format("{}:{}", request.seq, digest);
        if (kv::put(grant, key.view(), value.view()).is_error())
            return;
        reply = KvReply{KvStatus::Ok, request.seq, digest};
        return;
    }
    case KvOp::Get: {
        auto value = kv::get(key.view());
        if (value.is_error()) {
            reply.status = KvStatus::NotFound;
            return;
        }
        std::uint64_t seq = 0, digest = 0;
        if (!parse_value(value.value().view(), seq, digest))
            return;
        reply = KvReply{KvStatus::Ok, seq, digest};
        return;
    }
    case KvOp::Erase:
        if (kv::erase(grant, key.view()).is_error())
            return;
        reply.status = KvStatus::Ok;
        return;
    }
}

DELOS_CELL("fc_kvserver", "1.0.0", nullptr, nullptr);
