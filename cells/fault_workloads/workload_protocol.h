// workload_protocol.h: what the fault-campaign driver cell (cells/fc_driver) and the cells it
// injects faults into (fc_kvserver, fc_session, fc_pipeline) exchange: plain request and reply
// records, and the C entry points the driver resolves by name (so a reloaded target is found
// again at its new address). The driver never trusts what a target returns: it checks every
// answer against its own reference computation (cells/fc_driver/reference.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "memory/mapped_pages.h"

namespace delos::kv {
struct WriteGrant;  // cells/kv/kv.h
}

namespace delos::fault_workload {

// --- the kv-backed request server (fc_kvserver): no state of its own, the store is the kv cell ---
enum class KvOp : std::uint32_t { Put = 1, Get = 2, Erase = 3 };
inline constexpr std::size_t kPayloadWords = 16;
struct KvRequest {
    KvOp op;
    std::uint32_t client;
    std::uint64_t key;
    std::uint64_t seq;                     // the client's version of the value it puts
    std::uint64_t payload[kPayloadWords];  // a Put stores (seq, digest of the payload)
};
enum class KvStatus : std::int32_t { Ok = 0, NotFound = 1, Failed = 2 };
struct KvReply {
    KvStatus status;
    std::uint64_t seq;
    std::uint64_t digest;
};
inline constexpr char kKvServeSymbol[] = "fc_kvserver_serve";

} // namespace delos::fault_workload

// The kv server's entry, declared once for the server and its callers (extern "C": a signature
// that drifted would still link). Writes go through `grant`, the calling client's one key.
extern "C" void fc_kvserver_serve(const delos::fault_workload::KvRequest& request, const delos::kv::WriteGrant& grant,
                                  delos::fault_workload::KvReply& reply);

namespace delos::fault_workload {

// --- the session server (fc_session): stateless (the client carries its state) or stateful ---
inline constexpr std::uint32_t kSessionClients = 8;
struct SessionState {
    std::uint64_t count;
    std::uint64_t sum;
    std::uint64_t hash;
};
struct SessionRequest {
    std::uint32_t client;
    std::uint64_t value;
    SessionState state;  // the client's state (the stateless server); ignored by the stateful one
};
using SessionServe = void (*)(const SessionRequest&, SessionState& reply);
using SessionForget = void (*)();
inline constexpr char kSessionStatelessSymbol[] = "fc_session_serve_stateless";
inline constexpr char kSessionStatefulSymbol[] = "fc_session_serve_stateful";
inline constexpr char kSessionForgetSymbol[] = "fc_session_forget";

// --- the pipeline (fc_pipeline): two transforming stages between a source and a sink ---
inline constexpr std::size_t kBlockWords = 32;
struct Block {
    std::uint64_t seq;
    std::uint64_t words[kBlockWords];
    std::uint64_t check;  // set by stage 1
};
using PipelineStage = void (*)(std::uint32_t stage, Block&);
inline constexpr char kPipelineStageSymbol[] = "fc_pipeline_stage";

// --- the counter workload (the counter cell itself, cells/counter): no protocol of its own ---
inline constexpr std::uint32_t kCounterClients = 4;
struct CounterRequest {
    std::uint32_t client;
    std::int64_t target;  // the count this request brings the client's event to (idempotent)
};
struct CounterReply {
    bool ok;
    std::int64_t count;   // the counter's answer
};

// --- the page server (fc_pages): maps fresh pages, fills them, hands out a shared handle ---
inline constexpr std::size_t kMaxPagesPerRequest = 3;
struct PagesRequest {
    std::uint64_t seed;
    std::uint32_t pages;  // 1..kMaxPagesPerRequest
};
struct PagesReply {
    delos::memory::SharedMappedPages pages;  // every 8-byte word i of the run is pages_word(seed, i)
};
inline constexpr char kPagesFillSymbol[] = "fc_pages_fill";

} // namespace delos::fault_workload
