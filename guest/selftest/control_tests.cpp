// control_tests.cpp: in-guest tests of the channel engine over the real kernel backend (cell
// manager, frame allocator, heap): many sessions of push + load + unload of a cell, a 1 MiB
// frame and a half-sent frame each, after which the heap and the free frames are exactly at their
// baseline and no page table was made.
#include "control/kernel_control_backend.h"
#include "log/kernel_log.h"
#include "lib/control/channel_engine.h"
#include "lib/crypto/sha256.h"
#include "linker/cell_library.h"
#include "lib/proto/channel_codec.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/page_table.h"
#include "selftest/selftest.h"

namespace delos::selftest {

namespace {

using namespace channel;
using loader::cell_manager;

// Counts frames and remembers the first error reply.
class CheckingWriter final : public control::FrameWriter {
public:
    void write_frame(ByteView frame) override
    {
        ++frames;
        auto message = decode_guest_message(ByteView(frame.data() + kFrameHeaderBytes, frame.size() - kFrameHeaderBytes));
        if (message.is_error()) {
            failed = true;
            return;
        }
        if (message->kind == GuestMessage::Kind::Reply && !message->reply.status.ok() && !failed) {
            failed = true;
            failed_request = message->reply.request_id;
        }
    }
    std::uint64_t frames = 0;
    bool failed = false;
    std::uint64_t failed_request = 0;
};

void feed(control::ChannelEngine& engine, const HostMessage& message, std::size_t piece)
{
    Vector<std::uint8_t> frame;
    if (append_frame(frame, message).is_error())
        return;
    for (std::size_t at = 0; at < frame.size(); at += piece)
        engine.receive(ByteView(frame.data() + at, frame.size() - at < piece ? frame.size() - at : piece));
}

HostMessage request(std::uint64_t id, HostMessage::Request kind)
{
    HostMessage message;
    message.request_id = id;
    message.request = kind;
    return message;
}

// One session: hello, a 1 MiB frame, push + load + unload of `cell`, a push left open and half a
// frame when the "host" leaves.
void session(control::ChannelEngine& engine, const link::LibraryCell& cell, std::uint32_t& next_push_id, std::uint64_t& id)
{
    engine.open_session();
    HostMessage hello = request(++id, HostMessage::Request::Hello);
    hello.hello.min_version = kProtocolVersionMin;
    hello.hello.max_version = kProtocolVersionMax;
    feed(engine, hello, 1000);

    // A ping padded to 1 MiB with an unknown field (skipped by the decoder), split in 64 KiB reads.
    Vector<std::uint8_t> big;
    std::uint8_t header[] = {0, 0, 0, 0, 0x08, 0x01, 0x5a, 0x00, 0xfa, 0x07, 0x80, 0x80, 0x40};  // id 1, ping {}, field 127 len 1 MiB
    big.extend(header, sizeof header);
    big.resize(sizeof header + (1u << 20));
    std::uint32_t length = static_cast<std::uint32_t>(big.size() - kFrameHeaderBytes);
    __builtin_memcpy(big.data(), &length, sizeof length);
    for (std::size_t at = 0; at < big.size(); at += 64 * 1024)
        engine.receive(ByteView(big.data() + at, big.size() - at < 64 * 1024 ? big.size() - at : 64 * 1024));
    big = Vector<std::uint8_t>();

    HostMessage begin = request(++id, HostMessage::Request::PushBegin);
    begin.push_begin.name = String(cell.name);
    begin.push_begin.total_size = cell.object.size();
    begin.push_begin.sha256 = crypto::Sha256::digest(cell.object);
    begin.push_begin.has_sha256 = true;
    feed(engine, begin, 7);
    std::uint32_t push_id = next_push_id++;
    for (std::size_t offset = 0; offset < cell.object.size(); offset += kDefaultChunkBytes) {
        HostMessage chunk = request(++id, HostMessage::Request::PushChunk);
        chunk.push_chunk.push_id = push_id;
        chunk.push_chunk.offset = offset;
        std::size_t size = cell.object.size() - offset < kDefaultChunkBytes ? cell.object.size() - offset : kDefaultChunkBytes;
        chunk.push_chunk.data = ByteView(cell.object.data() + offset, size);
        feed(engine, chunk, 4096);
    }
    HostMessage commit = request(++id, HostMessage::Request::PushCommit);
    commit.push_commit.push_id = push_id;
    feed(engine, commit, 64 * 1024);
    HostMessage load = request(++id, HostMessage::Request::LoadCell);
    load.load_cell.name = String(cell.name);
    feed(engine, load, 64 * 1024);
    HostMessage unload = request(++id, HostMessage::Request::UnloadCell);
    unload.unload_cell.name = String(cell.name);
    feed(engine, unload, 64 * 1024);

    feed(engine, begin, 64 * 1024);  // left open
    ++next_push_id;
    Vector<std::uint8_t> half;
    (void)append_frame(half, request(++id, HostMessage::Request::Ping));
    engine.receive(ByteView(half.data(), half.size() / 2));
    engine.close_session();
}

// counter keeps its counts in kv as decimal text, so its load itself grows the heap by a byte
// whenever a count gains a digit: the measured sessions stay within one digit count.
using KvAdd = ErrorOr<std::int64_t>(StringView, std::int64_t);
constexpr const char* kKvAdd = "_ZN5delos2kv3addENS_10StringViewEl";

std::uint64_t loads_before_a_new_digit(KvAdd* add)
{
    std::uint64_t room = ~0ull;
    for (StringView key : {StringView("counter/boot"), StringView("counter/start")}) {
        auto count = add(key, 0);
        if (count.is_error() || count.value() < 0)
            return 0;
        std::uint64_t next_power = 10;
        while (next_power <= static_cast<std::uint64_t>(count.value()))
            next_power *= 10;
        std::uint64_t left = next_power - 1 - static_cast<std::uint64_t>(count.value());
        room = left < room ? left : room;
    }
    return room;
}

// The kernel's backend, but a load or unload runs at once instead of in a task of its own, so
// each frame fed is answered before feed() returns and the session's accounting is exact.
class ImmediateKernelBackend final : public control::KernelControlBackend {
public:
    ErrorOr<void> run_cell_operation(UniqueFunction<void()> work) override
    {
        work();
        return {};
    }
};

ErrorOr<void> sessions_give_frames_and_heap_back()
{
    if (!cell_manager().library())
        return Error::make(ErrorCode::NotFound, "no boot archive: boot with the cells archive as module");
    // counter: a boot cell nothing depends on, unloaded for the test and loaded again after it.
    const link::LibraryCell* cell = cell_manager().library()->find_cell("counter");
    SELFTEST_CHECK(cell != nullptr);
    bool was_loaded = cell_manager().cell_namespace().find_cell("counter") != nullptr;
    if (was_loaded)
        TRY(cell_manager().unload("counter"));

    ImmediateKernelBackend backend;
    CheckingWriter writer;
    control::ChannelEngine engine(backend, writer);
    std::uint32_t next_push_id = 1;
    std::uint64_t id = 0;
    for (int i = 0; i < 3; ++i)  // what the first sessions grow for good (namespace tables, slabs)
        session(engine, *cell, next_push_id, id);
    const link::SymbolDefinition* kv_add = cell_manager().cell_namespace().find_symbol(kKvAdd);
    SELFTEST_CHECK(kv_add != nullptr);
    auto* add = reinterpret_cast<KvAdd*>(kv_add->address);
    constexpr int kSessions = 50;
    while (loads_before_a_new_digit(add) < kSessions)
        session(engine, *cell, next_push_id, id);
    std::size_t frames_before = memory::frame_allocator().free_frames();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    memory::PageTableStatistics paging_before = memory::kernel_page_table().statistics();
    std::size_t tables_before = paging_before.table_frames;
    for (int i = 0; i < kSessions; ++i)
        session(engine, *cell, next_push_id, id);
    std::size_t frames_after = memory::frame_allocator().free_frames();
    std::uint64_t heap_after = memory::heap_statistics().bytes_in_use;
    memory::PageTableStatistics paging_after = memory::kernel_page_table().statistics();
    kprint("selftest: {} sessions: free frames {} -> {}, heap bytes {} -> {}, page-table frames {} -> {}\n", kSessions,
           frames_before, frames_after, heap_before, heap_after, tables_before, paging_after.table_frames);
    // The paging work of a session: under kvm_pvm each of these traps (docs/memory.md, "Costs").
    kprint("selftest: paging over {} sessions: {} 4 KiB entries and {} upper entries written, {} invlpg, {} CR3 reloads\n",
           kSessions, paging_after.leaf_writes - paging_before.leaf_writes,
           paging_after.structure_writes - paging_before.structure_writes,
           paging_after.page_invalidations - paging_before.page_invalidations,
           paging_after.full_flushes - paging_before.full_flushes);

    if (was_loaded)
        TRY(cell_manager().load("counter"));
    SELFTEST_CHECK(!writer.failed);
    SELFTEST_CHECK(engine.bytes_held() == 0);
    SELFTEST_CHECK(heap_after == heap_before);
    // Back to the frame: RAM's page tables are all built at boot and none is made, split or freed
    // after it (docs/memory.md), so a session that reached new 2 MiB regions costs no table.
    SELFTEST_CHECK(frames_after == frames_before);
    SELFTEST_CHECK(paging_after.table_frames == tables_before);
    SELFTEST_CHECK(paging_after.structure_writes == paging_before.structure_writes);
    return {};
}

} // namespace

extern const TestCase kControlTests[] = {
    {"control", "sessions_give_frames_and_heap_back", sessions_give_frames_and_heap_back},
};
extern const std::size_t kControlTestCount = sizeof kControlTests / sizeof kControlTests[0];

} // namespace delos::selftest
