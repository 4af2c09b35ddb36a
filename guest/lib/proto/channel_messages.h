// channel_messages.h: the channel protocol's messages (proto/delos/v1/channel.proto) as plain
// structs for freestanding code. Field numbers here and in the .proto must match; the host
// tests check every message against libprotobuf in both directions.
//
// A oneof is an enum saying which member is set plus one member per alternative (only the
// named one is meaningful). `bytes` fields that carry bulk data are ByteViews into the frame
// they were decoded from, so a decoded message must not outlive its frame.
#pragma once

#include <cstdint>

#include "abi/channel_limits.h"
#include "lib/core/byte_view.h"
#include "lib/crypto/sha256.h"
#include "lib/core/error_or.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"

namespace delos::channel {

using crypto::Sha256Digest;

// ---------------------------------------------------------------------------------------------
// Host to guest.

struct HelloRequest {
    std::uint32_t min_version = 0;
    std::uint32_t max_version = 0;
    String host_name;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint32(1, self.min_version);
        v.uint32(2, self.max_version);
        v.string(3, self.host_name);
    }
};

struct PingRequest {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

struct ListCellsRequest {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

struct ListRecentFaultsRequest {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

struct PushCellBegin {
    String name;
    std::uint64_t total_size = 0;
    Sha256Digest sha256;
    bool has_sha256 = false;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.name);
        v.uint64(2, self.total_size);
        v.digest(3, self.sha256, self.has_sha256);
    }
};

struct PushCellChunk {
    std::uint32_t push_id = 0;
    std::uint64_t offset = 0;
    ByteView data;  // into the frame
    std::uint64_t push_ref = 0;  // the PushCellBegin's request_id, used when push_id is 0

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint32(1, self.push_id);
        v.uint64(2, self.offset);
        v.bytes(3, self.data);
        v.uint64(10, self.push_ref);
    }
};

struct PushCellCommit {
    std::uint32_t push_id = 0;
    std::uint64_t push_ref = 0;  // the PushCellBegin's request_id, used when push_id is 0

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint32(1, self.push_id);
        v.uint64(10, self.push_ref);
    }
};

struct PushCellAbort {
    std::uint32_t push_id = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.uint32(1, self.push_id); }
};

struct LoadCellRequest {
    String name;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.string(1, self.name); }
};

struct UnloadCellRequest {
    String name;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.string(1, self.name); }
};

struct StatsRequest {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

struct SwapPair {
    String old_cell;
    String new_object;  // a staged cell's name (empty: old_cell's), or "<cell>.<tag>" in the boot archive

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.old_cell);
        v.string(2, self.new_object);
    }
};

struct SwapCellsRequest {
    Vector<SwapPair> pairs;
    // Non-zero: a PushCellBegin's request_id; the swap runs only if that push was committed.
    std::uint64_t after_push_ref = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.repeated_message(1, self.pairs, kMaxSwapPairs);
        v.uint64(10, self.after_push_ref);
    }
};

struct RollbackCellRequest {
    String name;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.string(1, self.name); }
};

struct RecoveryPolicyInfo {
    std::uint64_t window_ms = 0;
    std::uint32_t reload_after_faults = 0;
    std::uint32_t max_reloads = 0;
    std::uint64_t rollback_window_ms = 0;
    std::uint32_t max_restarts = 0;
    bool custom = false;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.window_ms);
        v.uint32(2, self.reload_after_faults);
        v.uint32(3, self.max_reloads);
        v.uint64(4, self.rollback_window_ms);
        v.uint32(5, self.max_restarts);
        v.boolean(6, self.custom);
    }
};

struct SetRecoveryPolicyRequest {
    String cell;  // empty: the guest's default policy
    RecoveryPolicyInfo policy;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.cell);
        v.message(2, self.policy);
    }
};

struct SetRecoveryPolicyReply {
    String cell;
    RecoveryPolicyInfo policy;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.cell);
        v.message(2, self.policy);
    }
};

struct HostMessage {
    enum class Request : std::uint8_t {
        None,  // nothing this guest knows was set
        Hello,
        Ping,
        ListCells,
        PushBegin,
        PushChunk,
        PushCommit,
        PushAbort,
        LoadCell,
        UnloadCell,
        Stats,
        SwapCells,
        RollbackCell,
        ListFaults,
        SetRecoveryPolicy,
    };

    std::uint64_t request_id = 0;
    Request request = Request::None;
    HelloRequest hello;
    PingRequest ping;
    ListCellsRequest list_cells;
    PushCellBegin push_begin;
    PushCellChunk push_chunk;
    PushCellCommit push_commit;
    PushCellAbort push_abort;
    LoadCellRequest load_cell;
    UnloadCellRequest unload_cell;
    StatsRequest stats;
    SwapCellsRequest swap_cells;
    RollbackCellRequest rollback_cell;
    ListRecentFaultsRequest list_faults;
    SetRecoveryPolicyRequest set_recovery_policy;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.request_id);
        v.oneof(10, self.request, Request::Hello, self.hello);
        v.oneof(11, self.request, Request::Ping, self.ping);
        v.oneof(12, self.request, Request::ListCells, self.list_cells);
        v.oneof(13, self.request, Request::PushBegin, self.push_begin);
        v.oneof(14, self.request, Request::PushChunk, self.push_chunk);
        v.oneof(15, self.request, Request::PushCommit, self.push_commit);
        v.oneof(16, self.request, Request::PushAbort, self.push_abort);
        v.oneof(17, self.request, Request::LoadCell, self.load_cell);
        v.oneof(18, self.request, Request::UnloadCell, self.unload_cell);
        v.oneof(19, self.request, Request::Stats, self.stats);
        v.oneof(20, self.request, Request::SwapCells, self.swap_cells);
        v.oneof(21, self.request, Request::RollbackCell, self.rollback_cell);
        v.oneof(22, self.request, Request::ListFaults, self.list_faults);
        v.oneof(23, self.request, Request::SetRecoveryPolicy, self.set_recovery_policy);
    }
};

const char* request_name(HostMessage::Request request);

// ---------------------------------------------------------------------------------------------
// Guest to host: replies.

// Numbers match delos::ErrorCode, plus Ok.
enum class StatusCode : std::int32_t {
    Ok = 0,
    InvalidArgument = 1,
    Malformed = 2,
    OutOfRange = 3,
    Unsupported = 4,
    NotFound = 5,
    AlreadyExists = 6,
    Busy = 7,
    OutOfMemory = 8,
    Overflow = 9,
    PermissionDenied = 10,
    Io = 11,
    Timeout = 12,
    Internal = 13,
};

struct Status {
    StatusCode code = StatusCode::Ok;
    String reason;
    std::uint64_t value = 0;
    bool has_value = false;

    bool ok() const { return code == StatusCode::Ok; }
    // The guest's error, unchanged: code, message and offending value.
    static Status from_error(const Error& error);

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.enumeration(1, self.code);
        v.string(2, self.reason);
        v.optional_uint64(3, self.value, self.has_value);
    }
};

struct HelloReply {
    std::uint32_t version = 0;
    String kernel_version;
    std::uint32_t max_frame_bytes = 0;
    std::uint32_t max_chunk_bytes = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint32(1, self.version);
        v.string(2, self.kernel_version);
        v.uint32(3, self.max_frame_bytes);
        v.uint32(4, self.max_chunk_bytes);
    }
};

struct PingReply {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

enum class CellState : std::int32_t {
    Unspecified = 0,
    Staged = 1,
    Loaded = 2,
    Retiring = 3,
    Faulted = 4,
};

struct CellRecoveryInfo {
    std::uint64_t faults = 0;
    std::uint64_t task_restarts = 0;
    std::uint64_t reloads = 0;
    std::uint64_t rollbacks = 0;
    bool quarantined = false;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.faults);
        v.uint64(2, self.task_restarts);
        v.uint64(3, self.reloads);
        v.uint64(4, self.rollbacks);
        v.boolean(5, self.quarantined);
    }
};

struct CellInfo {
    String name;
    String version;
    CellState state = CellState::Unspecified;
    std::uint32_t section_count = 0;
    std::uint64_t text_bytes = 0;
    std::uint64_t rodata_bytes = 0;
    std::uint64_t data_bytes = 0;
    std::uint64_t bss_bytes = 0;
    std::uint64_t object_bytes = 0;
    Vector<String> dependencies;
    Sha256Digest sha256;
    bool has_sha256 = false;
    std::uint32_t generation = 0;
    std::uint32_t task_count = 0;
    std::uint64_t cell_id = 0;
    String build_id;
    RecoveryPolicyInfo recovery_policy;
    CellRecoveryInfo recovery;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.name);
        v.string(2, self.version);
        v.enumeration(3, self.state);
        v.uint32(4, self.section_count);
        v.uint64(5, self.text_bytes);
        v.uint64(6, self.rodata_bytes);
        v.uint64(7, self.data_bytes);
        v.uint64(8, self.bss_bytes);
        v.uint64(9, self.object_bytes);
        v.repeated_string(10, self.dependencies, kMaxCellDependencies);
        v.digest(11, self.sha256, self.has_sha256);
        v.uint32(12, self.generation);
        v.uint32(13, self.task_count);
        v.uint64(14, self.cell_id);
        v.string(15, self.build_id);
        v.message(16, self.recovery_policy);
        v.message(17, self.recovery);
    }
};

struct ListCellsReply {
    Vector<CellInfo> cells;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.repeated_message(1, self.cells, kMaxListedCells); }
};

struct PushCellBeginReply {
    std::uint32_t push_id = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.uint32(1, self.push_id); }
};

struct PushCellChunkReply {
    std::uint64_t received_bytes = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.uint64(1, self.received_bytes); }
};

struct PushCellCommitReply {
    CellInfo cell;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.message(1, self.cell); }
};

struct PushCellAbortReply {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

struct LoadCellReply {
    CellInfo cell;
    Vector<String> also_loaded;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.message(1, self.cell);
        v.repeated_string(2, self.also_loaded, kMaxListedCells);
    }
};

struct UnloadCellReply {
    template <typename V, typename Self>
    static void visit_fields(V&, Self&) {}
};

struct CellTasks {
    std::uint64_t cell_id = 0;
    String cell;
    std::uint32_t task_count = 0;
    Vector<String> task_names;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.cell_id);
        v.string(2, self.cell);
        v.uint32(3, self.task_count);
        v.repeated_string(4, self.task_names, kMaxListedTaskNames);
    }
};

struct SwappedCell {
    String name;
    String old_version;
    String new_version;
    std::uint32_t old_generation = 0;
    std::uint32_t new_generation = 0;
    String state_layout;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.name);
        v.string(2, self.old_version);
        v.string(3, self.new_version);
        v.uint32(4, self.old_generation);
        v.uint32(5, self.new_generation);
        v.string(6, self.state_layout);
    }
};

struct SwapTiming {
    std::uint64_t load_ns = 0;
    std::uint64_t link_ns = 0;
    std::uint64_t verify_ns = 0;
    std::uint64_t transfer_ns = 0;
    std::uint64_t repoint_ns = 0;
    std::uint64_t cleanup_ns = 0;
    std::uint64_t total_ns = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.load_ns);
        v.uint64(2, self.link_ns);
        v.uint64(3, self.verify_ns);
        v.uint64(4, self.transfer_ns);
        v.uint64(5, self.repoint_ns);
        v.uint64(6, self.cleanup_ns);
        v.uint64(7, self.total_ns);
    }
};

struct CellSwapped {
    Vector<SwappedCell> cells;
    SwapTiming timing;
    std::uint32_t relocations_repointed = 0;
    std::uint32_t retiring_cells = 0;
    Vector<String> also_loaded;
    bool rollback = false;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.repeated_message(1, self.cells, kMaxSwapPairs);
        v.message(2, self.timing);
        v.uint32(3, self.relocations_repointed);
        v.uint32(4, self.retiring_cells);
        v.repeated_string(5, self.also_loaded, kMaxListedCells);
        v.boolean(6, self.rollback);
    }
};

struct SwapCellsReply {
    CellSwapped swapped;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self) { v.message(1, self.swapped); }
};

struct StatsReply {
    std::uint64_t memory_total_bytes = 0;
    std::uint64_t memory_free_bytes = 0;
    std::uint64_t frames_total = 0;
    std::uint64_t frames_free = 0;
    std::uint64_t heap_used_bytes = 0;
    std::uint64_t heap_capacity_bytes = 0;
    std::uint32_t task_count = 0;
    std::uint64_t uptime_ns = 0;
    std::uint32_t cell_count = 0;
    Vector<CellTasks> tasks_by_cell;
    std::uint64_t page_table_frames = 0;
    std::uint64_t page_table_leaf_writes = 0;
    std::uint64_t page_table_structure_writes = 0;
    std::uint64_t tlb_page_invalidations = 0;
    std::uint64_t tlb_full_flushes = 0;
    std::uint64_t stack_cache_frames = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.memory_total_bytes);
        v.uint64(2, self.memory_free_bytes);
        v.uint64(3, self.frames_total);
        v.uint64(4, self.frames_free);
        v.uint64(5, self.heap_used_bytes);
        v.uint64(6, self.heap_capacity_bytes);
        v.uint32(7, self.task_count);
        v.uint64(8, self.uptime_ns);
        v.uint32(9, self.cell_count);
        v.repeated_message(10, self.tasks_by_cell, kMaxListedCells + 1);
        v.uint64(11, self.page_table_frames);
        v.uint64(12, self.page_table_leaf_writes);
        v.uint64(13, self.page_table_structure_writes);
        v.uint64(14, self.tlb_page_invalidations);
        v.uint64(15, self.tlb_full_flushes);
        v.uint64(16, self.stack_cache_frames);
    }
};

// Fault reports: events (below) and the ListFaults reply.

enum class FaultKind : std::int32_t {
    Unspecified = 0,
    PageFault = 1,
    GeneralProtection = 2,
    InvalidOpcode = 3,
    DivideError = 4,
    Panic = 5,
    DoubleFault = 6,
    StackSegment = 7,
    AlignmentCheck = 8,
    Breakpoint = 9,
    MachineCheck = 10,
    OtherException = 11,
    Watchdog = 12,
    StackOverflow = 13,
    Deadlock = 14,
};

enum class RecoveryAction : std::int32_t {
    Unspecified = 0,
    None = 1,
    TaskKilled = 2,
    TaskRestarted = 3,
    CellReloaded = 4,
    ApplicationReloaded = 5,
    Halted = 6,
    CellQuarantined = 7,
    CellRolledBack = 8,
};

struct BacktraceFrame {
    std::uint64_t address = 0;
    String symbol;
    std::uint64_t offset = 0;
    String cell;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.address);
        v.string(2, self.symbol);
        v.uint64(3, self.offset);
        v.string(4, self.cell);
    }
};

struct FaultRegisters {
    std::uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0, r8 = 0, r9 = 0, r10 = 0,
                  r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0, rip = 0, rflags = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.rax);
        v.uint64(2, self.rbx);
        v.uint64(3, self.rcx);
        v.uint64(4, self.rdx);
        v.uint64(5, self.rsi);
        v.uint64(6, self.rdi);
        v.uint64(7, self.rbp);
        v.uint64(8, self.rsp);
        v.uint64(9, self.r8);
        v.uint64(10, self.r9);
        v.uint64(11, self.r10);
        v.uint64(12, self.r11);
        v.uint64(13, self.r12);
        v.uint64(14, self.r13);
        v.uint64(15, self.r14);
        v.uint64(16, self.r15);
        v.uint64(17, self.rip);
        v.uint64(18, self.rflags);
    }
};

struct FaultReport {
    std::uint64_t task_id = 0;
    String task_name;
    String cell_name;
    String cell_version;
    String symbol;
    std::uint64_t symbol_offset = 0;
    FaultKind kind = FaultKind::Unspecified;
    std::uint32_t vector = 0;
    std::uint64_t error_code = 0;
    std::uint64_t address = 0;
    std::uint64_t instruction_pointer = 0;
    Vector<BacktraceFrame> backtrace;
    RecoveryAction action = RecoveryAction::Unspecified;
    String message;
    std::uint32_t fault_count = 0;
    std::uint32_t cell_generation = 0;
    std::uint64_t fault_sequence = 0;
    String boot_id;
    String cell_build_id;
    String section;
    std::uint64_t section_offset = 0;
    FaultRegisters registers;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.task_id);
        v.string(2, self.task_name);
        v.string(3, self.cell_name);
        v.string(4, self.cell_version);
        v.string(5, self.symbol);
        v.uint64(6, self.symbol_offset);
        v.enumeration(7, self.kind);
        v.uint32(8, self.vector);
        v.uint64(9, self.error_code);
        v.uint64(10, self.address);
        v.uint64(11, self.instruction_pointer);
        v.repeated_message(12, self.backtrace, kMaxBacktraceFrames);
        v.enumeration(13, self.action);
        v.string(14, self.message);
        v.uint32(15, self.fault_count);
        v.uint32(16, self.cell_generation);
        v.uint64(17, self.fault_sequence);
        v.string(18, self.boot_id);
        v.string(19, self.cell_build_id);
        v.string(20, self.section);
        v.uint64(21, self.section_offset);
        v.message(22, self.registers);
    }
};

struct ListRecentFaultsReply {
    Vector<FaultReport> faults;
    std::uint64_t faults_recorded = 0;
    String boot_id;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.repeated_message(1, self.faults, kMaxListedFaults);
        v.uint64(2, self.faults_recorded);
        v.string(3, self.boot_id);
    }
};

struct Reply {
    enum class Payload : std::uint8_t {
        None,  // errors carry no payload
        Hello,
        Ping,
        ListCells,
        PushBegin,
        PushChunk,
        PushCommit,
        PushAbort,
        LoadCell,
        UnloadCell,
        Stats,
        SwapCells,
        RollbackCell,
        ListFaults,
        SetRecoveryPolicy,
    };

    std::uint64_t request_id = 0;
    Status status;
    Payload payload = Payload::None;
    HelloReply hello;
    PingReply ping;
    ListCellsReply list_cells;
    PushCellBeginReply push_begin;
    PushCellChunkReply push_chunk;
    PushCellCommitReply push_commit;
    PushCellAbortReply push_abort;
    LoadCellReply load_cell;
    UnloadCellReply unload_cell;
    StatsReply stats;
    SwapCellsReply swap_cells;
    SwapCellsReply rollback_cell;
    ListRecentFaultsReply list_faults;
    SetRecoveryPolicyReply set_recovery_policy;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.request_id);
        v.message(2, self.status);
        v.oneof(10, self.payload, Payload::Hello, self.hello);
        v.oneof(11, self.payload, Payload::Ping, self.ping);
        v.oneof(12, self.payload, Payload::ListCells, self.list_cells);
        v.oneof(13, self.payload, Payload::PushBegin, self.push_begin);
        v.oneof(14, self.payload, Payload::PushChunk, self.push_chunk);
        v.oneof(15, self.payload, Payload::PushCommit, self.push_commit);
        v.oneof(16, self.payload, Payload::PushAbort, self.push_abort);
        v.oneof(17, self.payload, Payload::LoadCell, self.load_cell);
        v.oneof(18, self.payload, Payload::UnloadCell, self.unload_cell);
        v.oneof(19, self.payload, Payload::Stats, self.stats);
        v.oneof(20, self.payload, Payload::SwapCells, self.swap_cells);
        v.oneof(21, self.payload, Payload::RollbackCell, self.rollback_cell);
        v.oneof(22, self.payload, Payload::ListFaults, self.list_faults);
        v.oneof(23, self.payload, Payload::SetRecoveryPolicy, self.set_recovery_policy);
    }
};

// ---------------------------------------------------------------------------------------------
// Guest to host: events.

struct Ready {
    String kernel_version;
    std::uint32_t cells_loaded = 0;
    std::uint64_t boot_ns = 0;
    std::uint32_t min_version = 0;
    std::uint32_t max_version = 0;
    String boot_id;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.kernel_version);
        v.uint32(2, self.cells_loaded);
        v.uint64(3, self.boot_ns);
        v.uint32(4, self.min_version);
        v.uint32(5, self.max_version);
        v.string(6, self.boot_id);
    }
};

enum class LogLevel : std::int32_t {
    Unspecified = 0,
    Trace = 1,
    Debug = 2,
    Info = 3,
    Warn = 4,
    Error = 5,
};

struct LogLine {
    String cell;
    LogLevel level = LogLevel::Unspecified;
    String text;
    std::uint64_t timestamp_ns = 0;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.string(1, self.cell);
        v.enumeration(2, self.level);
        v.string(3, self.text);
        v.uint64(4, self.timestamp_ns);
    }
};

struct Event {
    enum class Kind : std::uint8_t {
        None,  // an event kind this side does not know: ignore it
        Ready,
        LogLine,
        FaultReport,
        CellSwapped,
    };

    std::uint64_t sequence = 0;
    std::uint64_t uptime_ns = 0;
    Kind kind = Kind::None;
    channel::Ready ready;
    channel::LogLine log_line;
    channel::FaultReport fault_report;
    channel::CellSwapped cell_swapped;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.uint64(1, self.sequence);
        v.uint64(2, self.uptime_ns);
        v.oneof(10, self.kind, Kind::Ready, self.ready);
        v.oneof(11, self.kind, Kind::LogLine, self.log_line);
        v.oneof(12, self.kind, Kind::FaultReport, self.fault_report);
        v.oneof(13, self.kind, Kind::CellSwapped, self.cell_swapped);
    }
};

struct GuestMessage {
    enum class Kind : std::uint8_t {
        None,
        Reply,
        Event,
    };

    Kind kind = Kind::None;
    channel::Reply reply;
    channel::Event event;

    template <typename V, typename Self>
    static void visit_fields(V& v, Self& self)
    {
        v.oneof(1, self.kind, Kind::Reply, self.reply);
        v.oneof(2, self.kind, Kind::Event, self.event);
    }

    static GuestMessage make_reply(channel::Reply reply);
    static GuestMessage make_event(channel::Event event);
    // A reply that carries only the error, for request `request_id` (0 if unknown).
    static GuestMessage make_error_reply(std::uint64_t request_id, const Error& error);
};

} // namespace delos::channel
